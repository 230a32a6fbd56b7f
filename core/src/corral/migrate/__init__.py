"""``corral migrate``: nxs-backup 2.x and 3.x configurations turned into corral's (docs/migrating-from-nxs-backup.md).

:mod:`.load` reads the files with their lines, :mod:`.detect` tells the versions apart, :mod:`.read2` and
:mod:`.read3` map each version's keys (with the shared rules of :mod:`.mapping`) into a :class:`.report.Plan`, and
:mod:`.write` writes it: a main file, one job file per job, a 0600 file per literal password.
"""

from __future__ import annotations

from pathlib import Path

from corral.migrate.report import Plan


def plan(path: Path, to_dir: Path, version: str | None = None) -> Plan:
    """The corral configuration, to be written into ``to_dir``, for nxs-backup file ``path`` (``version`` "2" or
    "3"; None: detected).

    Raises MigrateError (one line) when the file cannot be read or is no nxs-backup configuration."""
    from corral.migrate import detect, load, read2, read3

    raw = load.read(path)
    version = version or detect.version(raw)
    if version is None:
        raise load.MigrateError(f"{path}: neither an nxs-backup 2.x file (`main:` and `jobs:`) nor a 3.x one "
                                "(`storage_connects`, `include_jobs_configs`, `job_name`...); give --format 2|3")
    return (read2 if version == "2" else read3).convert(raw, path, Plan(version=version, to_dir=to_dir))
