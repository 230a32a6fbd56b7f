"""Targets and excludes: glob expansion, archive names, and the concrete paths tar must skip."""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9._+@=-]+")


def expand_target(pattern: str) -> list[Path]:
    """Every existing path a target glob matches, without trailing slashes, in name order."""
    return [Path(os.path.normpath(match)) for match in sorted(glob.glob(pattern, recursive=True))]


def archive_names(paths: list[Path]) -> dict[Path, str]:
    """A file-name-safe name per target: the folder's name, or its whole path where names collide."""
    def short(path: Path) -> str:
        return _UNSAFE.sub("_", path.name) or "root"

    def full(path: Path) -> str:
        return _UNSAFE.sub("_", str(path).strip("/")) or "root"

    counts: dict[str, int] = {}
    for path in paths:
        counts[short(path)] = counts.get(short(path), 0) + 1
    return {path: short(path) if counts[short(path)] == 1 else full(path) for path in paths}


def member_excludes(target: Path, patterns: list[str]) -> list[str]:
    """The archive member names (relative to the target's parent) that the exclude patterns match.

    A relative pattern applies inside the target; an absolute one names a path (both may be globs, ``**``
    included). Expanding them here lets tar match exact names in a hash table instead of running every
    wildcard against every file.
    """
    parent = target.parent
    members: set[str] = set()
    for pattern in patterns:
        full = pattern if os.path.isabs(pattern) else os.path.join(target, pattern)
        for match in glob.glob(full, recursive=True):
            path = Path(os.path.normpath(match))
            if path == target or target in path.parents:
                members.add(str(path.relative_to(parent)))
    return sorted(members)


def target_for(sources: list[Any], given: str) -> str | None:
    """The archive target a user means by a path (``/var/www/shop/upload``) or by one of the job's target globs
    that matches one path: named as the dump names it (:func:`archive_names` over each source's matches)."""
    wanted = Path(os.path.normpath(given)) if given.startswith("/") else None
    for source in sources:
        patterns = list(getattr(source, "target", []))
        matched = {pattern: expand_target(pattern) for pattern in patterns}
        names = archive_names([path for found in matched.values() for path in found])
        if wanted is not None and wanted in names:
            return names[wanted]
        if len(matched.get(given, [])) == 1:
            return names[matched[given][0]]
    return None
