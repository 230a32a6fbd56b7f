"""Excludes (the concrete paths tar must skip) and the target a user means; the core expands and names targets."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

from corral import targets


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
    that matches one path: named as the dump names it (:func:`corral.targets.named` per source)."""
    for source in sources:
        name = targets.name_of(list(getattr(source, "target", [])), given)
        if name is not None:
            return name
    return None
