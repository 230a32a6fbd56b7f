"""``corral drill`` for file jobs: extract the newest archive (or chain) into the scratch folder with tar and count
what came back against what tar archived (the manifest's facts)."""

from __future__ import annotations

import os
from pathlib import Path

from corral import DrillReport, DrillRequest, RunContext, Storage, command_check, compare_counts, human_size
from corral_source_files.restore import fetch_and_extract

COUNTED = ("files", "bytes", "dirs", "symlinks")


def counts(root: Path) -> dict[str, int]:
    """The tree below ``root`` as the tar index counts it: regular files (every hard link), their bytes (each
    file once), folders, symbolic links."""
    found = dict.fromkeys(COUNTED, 0)
    seen: set[tuple[int, int]] = set()
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            if os.path.islink(os.path.join(folder, name)):
                found["symlinks"] += 1
            else:
                found["dirs"] += 1
        for name in files:
            stat = os.lstat(os.path.join(folder, name))
            if os.path.islink(os.path.join(folder, name)):
                found["symlinks"] += 1
            elif os.path.isfile(os.path.join(folder, name)):
                found["files"] += 1
                if (stat.st_dev, stat.st_ino) not in seen:
                    seen.add((stat.st_dev, stat.st_ino))
                    found["bytes"] += stat.st_size
    return found


def drill_files(run: RunContext, storage: Storage, paths: list[str], request: DrillRequest,
                incremental: bool) -> DrillReport:  # fmt: skip
    """Extract ``paths`` in order into the scratch folder, count, compare (a single archive: exactly what tar
    archived; a chain: its levels count changes, so only the checks judge it), run the checks."""
    into = request.scratch / "restored"
    into.mkdir(mode=0o700)
    fetch_and_extract(run, storage, paths, into, incremental, tmp_dir=request.scratch)
    found = counts(into)
    restored = f"{found['files']:,} files, {human_size(found['bytes'])}"
    problems: list[str] = []
    if not any(found.values()):  # tar made it, so it holds at least the target's folder: judged with or without facts
        problems.append("the archive restored nothing, not even the target's folder")
    if incremental:
        restored += f", a chain of {len(paths)} archive(s)"
    elif request.facts:
        recorded = {key: request.facts[key] for key in COUNTED if key in request.facts}
        problems += compare_counts("count of", recorded, {key: found[key] for key in recorded})
    passed = 0
    for check in request.checks:
        if check.sql is not None:
            problems.append(f"check `{check.sql}`: an sql check needs a database job")
            continue
        failure = command_check(run, check, into, {"CORRAL_DRILL_DIR": str(into)})
        if failure:
            problems.append(failure)
        else:
            passed += 1
    return DrillReport(restored=restored, problems=problems, checks=passed, compared=not incremental)
