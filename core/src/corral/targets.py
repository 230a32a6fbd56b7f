"""Targets given as paths or globs: every match, each with a name that stays the same as matches come and go.

A match is named by the parts of its path the glob matched, as nxs-backup names them: ``/var/www/*/upload``
gives ``shop`` for ``/var/www/shop/upload`` and ``blog`` for ``/var/www/blog/upload``; several matched parts are
joined with ``___`` (``/srv/*/*/data`` gives ``shop___2024``); a ``**`` names a match by its path below the
glob's fixed beginning. A path without wildcards is named after its last part. A name with characters beyond
``A-Za-z0-9._+@=-`` gets them as ``_`` and a short hash of the original (:func:`safe`), so two sites never share
a name and adding a site never renames another's target. Only where two matches would still get the same name
(two patterns ending in the same folder name) are those named by their whole path, with ``/`` as ``_``.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from corral.archive import target_problem

_UNSAFE = re.compile(r"[^A-Za-z0-9._+@=-]+")
_LONGEST_EXTENSION = "x" * 24  # room for the longest extension a target's archives get (``tar.zst.age``...)
_KEPT = 80  # characters of a replaced name kept before its hash
SEPARATOR = "___"


def expand(pattern: str) -> list[Path]:
    """Every existing path ``pattern`` matches (``**`` spans folders), without trailing slashes, in name order."""
    return [Path(os.path.normpath(match)) for match in sorted(matches(pattern))]


def matches(pattern: str) -> list[str]:
    """``glob.glob(pattern, recursive=True)``, except that ``**`` never walks into a linked folder (a last ``**``
    matches the link itself): glob follows links there, and a site's owner who links a folder into itself twice
    makes 2^40 paths (tar does not follow them either). Without ``**`` it is glob's, bounded by the pattern."""
    if "**" not in pattern:
        return glob.glob(pattern)
    parts = [part for part in pattern.split("/") if part]
    found = ["/" if pattern.startswith("/") else ""]
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        if part == "**":
            found = [path for base in found for path in _below(base, folders_only=not last)]
        elif glob.has_magic(part):
            found = [os.path.join(base, name) for base in found for name in _names(base)
                     if fnmatch.fnmatchcase(name, part) and (part.startswith(".") or not name.startswith("."))]
        else:
            found = [os.path.join(base, part) for base in found]
    if pattern.endswith("/"):
        return [path for path in dict.fromkeys(found) if os.path.isdir(path)]
    return [path for path in dict.fromkeys(found) if path and os.path.lexists(path)]


def _names(folder: str) -> list[str]:
    try:
        return os.listdir(folder or ".")
    except OSError:
        return []


def _below(folder: str, folders_only: bool) -> Iterator[str]:
    """``folder`` and what is below it (its real folders only, when more parts follow), hidden names left out, a
    link never walked into."""
    if folder and not os.path.isdir(folder):
        return
    yield folder
    todo = [folder]
    while todo:
        current = todo.pop()
        try:
            entries = sorted(os.scandir(current or "."), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = os.path.join(current, entry.name)
            walk = entry.is_dir(follow_symlinks=False)
            if walk:
                todo.append(path)
            if walk or not folders_only:
                yield path


def excluded(target: Path, patterns: Iterable[str]) -> Iterator[tuple[str, Path]]:
    """Each path inside ``target`` (or ``target`` itself) an exclude pattern matches, with that pattern: a relative
    pattern applies inside the target, an absolute one names a path (both may be globs, ``**`` included)."""
    for pattern in patterns:
        full = pattern if os.path.isabs(pattern) else os.path.join(target, pattern)
        for match in matches(full):
            path = Path(os.path.normpath(match))
            if path == target or target in path.parents:
                yield pattern, path


def safe(text: str) -> str:
    """``text`` as an archive name, one-to-one: characters beyond ``A-Za-z0-9._+@=-`` become ``_`` and then a
    short hash of the original follows (``café`` gives ``caf_-<8 hex>``), as it does for a name too long or
    reserved (``.``, ``..``, corral's own folders): two different names never meet, a name never changes."""
    if not text:
        return "root"
    name = _UNSAFE.sub("_", text)
    if name == text and name not in (".", "..") and target_problem(name, _LONGEST_EXTENSION) is None:
        return name
    digest = hashlib.sha256(text.encode(errors="surrogateescape")).hexdigest()[:8]
    return f"{name.lstrip('.')[:_KEPT] or 'root'}-{digest}"


def matched_part(pattern: str, path: Path) -> str:
    """The name of ``path`` as a match of ``pattern``: the parts the glob matched, joined by ``___``."""
    wanted = os.path.normpath(pattern).split("/")
    found = str(path).split("/")
    if "**" not in wanted and len(wanted) == len(found):
        parts = [have for want, have in zip(wanted, found, strict=True) if want != have]
    else:
        fixed = next((i for i, part in enumerate(wanted) if glob.has_magic(part)), len(wanted))
        parts = found[fixed:]
    return _fit(SEPARATOR.join(safe(part) for part in parts), str(path)) if parts else safe(path.name)


def whole(path: Path) -> str:
    """``path`` as one archive name, each part made safe (``/var/www/shop/upload``: ``var_www_shop_upload``)."""
    return _fit("_".join(safe(part) for part in path.parts if part != "/") or "root", str(path))


def _fit(name: str, original: str) -> str:
    """``name`` cut short with a hash of ``original`` when it is too long for the names corral writes."""
    if target_problem(name, _LONGEST_EXTENSION) is None:
        return name
    return f"{name[:_KEPT]}-{hashlib.sha256(original.encode(errors='surrogateescape')).hexdigest()[:8]}"


def named(patterns: Iterable[str]) -> tuple[dict[Path, str], list[str]]:
    """Every match of every pattern with its name (:func:`matched_part`), and the patterns that match nothing.

    A path two patterns match is named by the first; matches whose names still collide are named by their whole
    path."""
    names: dict[Path, str] = {}
    unmatched: list[str] = []
    for pattern in patterns:
        found = expand(pattern)
        if not found:
            unmatched.append(pattern)
        for path in found:
            names.setdefault(path, matched_part(pattern, path))
    return _distinct(_distinct(names, whole), lambda path: safe(str(path))), unmatched


def _distinct(names: dict[Path, str], rename: Callable[[Path], str]) -> dict[Path, str]:
    """``names`` with every name that two paths share replaced by ``rename(path)``."""
    counts = Counter(names.values())
    return {path: name if counts[name] == 1 else rename(path) for path, name in names.items()}


def name_of(patterns: list[str], given: str) -> str | None:
    """The target name a user means by a path (``/var/www/shop/upload``) or by a pattern that matches one path,
    as :func:`named` names it; None if neither."""
    names, _ = named(patterns)
    if given.startswith("/") and Path(os.path.normpath(given)) in names:
        return names[Path(os.path.normpath(given))]
    found = expand(given) if given in patterns else []
    return names[found[0]] if len(found) == 1 else None
