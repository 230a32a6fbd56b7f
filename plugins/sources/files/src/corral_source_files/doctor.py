"""``corral doctor`` for ``desc_files`` and ``inc_files``: GNU tar and its version, the codec, and what each target
matches on this server now (a target that matches nothing fails its part of the run)."""

from __future__ import annotations

import glob
import os
from typing import Any

from corral import Check
from corral.doctoring import codec, program

SHOWN = 5  # matches named in a target's line


def check(source: Any) -> list[Check]:
    tar = program("tar", "tar")
    checks = [Check(tar.check.status, f"GNU {tar.check.text}") if tar.path else tar.check, codec(source.codec_name)]
    for pattern in source.target:
        found = sorted(os.path.normpath(match) for match in glob.glob(pattern, recursive=True))
        if not found:
            checks.append(Check.fail(f"target `{pattern}` matches no file or folder"))
            continue
        unreadable = [path for path in found if not os.access(path, os.R_OK)]
        named = ", ".join(os.path.basename(path) or path for path in found[:SHOWN])
        more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
        fact = f"target `{pattern}`: {len(found)} match(es): {named}{more}"
        checks.append(Check.warn(f"{fact}; not readable: {', '.join(unreadable)}") if unreadable else Check.ok(fact))
    return checks
