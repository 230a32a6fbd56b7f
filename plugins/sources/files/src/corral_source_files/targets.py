"""Excludes (the concrete paths tar must skip) and the target a user means; the core expands and names targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from corral import targets


def member_excludes(target: Path, patterns: list[str]) -> list[str]:
    """The archive member names (relative to the target's parent) that the exclude patterns match.

    A relative pattern applies inside the target; an absolute one names a path (both may be globs, ``**``
    included). Expanding them here lets tar match exact names in a hash table instead of running every
    wildcard against every file.
    """
    return sorted({str(path.relative_to(target.parent)) for _, path in targets.excluded(target, patterns)})


def target_for(sources: list[Any], given: str) -> str | None:
    """The archive target a user means by a path (``/var/www/shop/upload``) or by one of the job's target globs
    that matches one path: named as the dump names it (:func:`corral.targets.named` per source)."""
    for source in sources:
        name = targets.name_of(list(getattr(source, "target", [])), given)
        if name is not None:
            return name
    return None
