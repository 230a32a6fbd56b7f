"""``corral doctor`` for ``desc_files`` and ``inc_files``: GNU tar and its version, the codec, and what each target
matches on this server now (a target that matches nothing fails its part of the run)."""

from __future__ import annotations

import os
from typing import Any

from corral import Check, targets
from corral.doctoring import codec, program

SHOWN = 5  # matches named in a target's line


def check(source: Any) -> list[Check]:
    tar = program("tar", "tar")
    checks = [Check(tar.check.status, f"GNU {tar.check.text}") if tar.path else tar.check, codec(source.codec_name)]
    for pattern in source.target:
        matches, _ = targets.named([pattern])
        if not matches:
            checks.append(Check.fail(f"target `{pattern}` matches no file or folder"))
            continue
        unreadable = [str(path) for path in matches if not os.access(path, os.R_OK)]
        shown = ", ".join(list(matches.values())[:SHOWN])
        more = f" and {len(matches) - SHOWN} more" if len(matches) > SHOWN else ""
        fact = f"target `{pattern}`: {len(matches)} match(es): {shown}{more}"  # as the archives are named
        checks.append(Check.warn(f"{fact}; not readable: {', '.join(unreadable)}") if unreadable else Check.ok(fact))
    return checks
