"""Targets given as paths or globs: every match, each with a name that stays the same as matches come and go.

A match is named by the parts of its path the glob matched, as nxs-backup names them: ``/var/www/*/upload``
gives ``shop`` for ``/var/www/shop/upload`` and ``blog`` for ``/var/www/blog/upload``; several matched parts are
joined with ``___`` (``/srv/*/*/data`` gives ``shop___2024``); a ``**`` names a match by its path below the
glob's fixed beginning. A path without wildcards is named after its last part. Adding a site never renames
another's target. Only where two matches would still get the same name (two patterns ending in the same folder
name) are those named by their whole path, with ``/`` as ``_``.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._+@=-]+")
SEPARATOR = "___"


def expand(pattern: str) -> list[Path]:
    """Every existing path ``pattern`` matches (``**`` spans folders), without trailing slashes, in name order."""
    return [Path(os.path.normpath(match)) for match in sorted(glob.glob(pattern, recursive=True))]


def safe(text: str) -> str:
    """``text`` as a file-name-safe archive name (runs of other characters become ``_``)."""
    return _UNSAFE.sub("_", text).strip("_") or "root"


def matched_part(pattern: str, path: Path) -> str:
    """The name of ``path`` as a match of ``pattern``: the parts the glob matched, joined by ``___``."""
    wanted = os.path.normpath(pattern).split("/")
    found = str(path).split("/")
    if "**" not in wanted and len(wanted) == len(found):
        parts = [have for want, have in zip(wanted, found, strict=True) if want != have]
    else:
        fixed = next((i for i, part in enumerate(wanted) if glob.has_magic(part)), len(wanted))
        parts = found[fixed:]
    return safe(SEPARATOR.join(parts)) if parts else safe(path.name)


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
    counts: dict[str, int] = {}
    for name in names.values():
        counts[name] = counts.get(name, 0) + 1
    return {path: name if counts[name] == 1 else safe(str(path)) for path, name in names.items()}, unmatched


def name_of(patterns: list[str], given: str) -> str | None:
    """The target name a user means by a path (``/var/www/shop/upload``) or by a pattern that matches one path,
    as :func:`named` names it; None if neither."""
    names, _ = named(patterns)
    if given.startswith("/") and Path(os.path.normpath(given)) in names:
        return names[Path(os.path.normpath(given))]
    found = expand(given) if given in patterns else []
    return names[found[0]] if len(found) == 1 else None
