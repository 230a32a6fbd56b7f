"""Which nxs-backup version a file is, and whether a file ``corral check`` refuses is one at all."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from corral.migrate.load import Include, Map

# keys only 3.x writes at the top of its main file (or of a job file)
_TOP3 = frozenset({"storage_connects", "storage_connections", "include_jobs_configs", "include_job_configs",
                   "job_name", "storages_options", "logfile", "loglevel", "notifications", "project_name",
                   "server_name"})
# 2.x keys corral's own format does not have: in `main:`, a job, a source, a storage
_MAIN2 = frozenset({"log_file"})
_JOB2 = frozenset({"safety_backup", "deferred_copying_level"})
_SOURCE2 = frozenset({"target_dbs", "exclude_dbs", "target_collections", "path_to_conf"})
_STORAGE2 = frozenset({"bucket_name", "s3fs_opts"})
_TYPES2 = frozenset({"mysql_xtrabackup", "postgresql_basebackup"})


def version(raw: Any) -> str | None:
    """"3" for a 3.x layout, "2" for a 2.x one (``main:``/``jobs:`` or a list of ``- job:``), None otherwise."""
    if isinstance(raw, Map):
        if _TOP3 & set(raw):
            return "3"
        if "main" in raw or "jobs" in raw or "job" in raw:
            return "2"
    if isinstance(raw, list) and raw and all(isinstance(item, Map) for item in raw):
        if all("job_name" in item for item in raw):
            return "3"
        if all("job" in item for item in raw):
            return "2"
    return None


def nxs_only(raw: Any, base: Path) -> str | None:
    """"3" or "2" when ``raw`` (a main file, with its included job files) holds what only nxs-backup writes: a
    3.x layout, or a 2.x key corral's format does not have (``log_file``, ``bucket_name``...); else None."""
    from corral.migrate import load

    if isinstance(raw, Map) and _TOP3 & set(raw) and "main" not in raw:
        return "3"
    if not isinstance(raw, Map):
        return None
    main = raw.get("main")
    jobs = raw.get("jobs")
    items: list[Any] = list(jobs) if isinstance(jobs, list) else []
    if isinstance(jobs, Include):
        for path in load.matches(jobs.patterns, base)[:50]:
            try:
                loaded = load.read(path)
            except load.MigrateError:
                continue
            items.extend(loaded if isinstance(loaded, list) else [loaded])
    if _corral_own(main, items):  # corral's file with a key nxs-backup also knows (`bucket_name`): its errors
        return None
    if isinstance(main, Map) and _MAIN2 & set(main):
        return "2"
    return "2" if any(_nxs_job(item) for item in items) else None


def _corral_own(main: Any, jobs: list[Any]) -> bool:
    """``main`` or a job holds a key only corral has (``encrypt``, ``coverage``, ``drill``...)."""
    from corral.config.models import JobCore, MainCore
    from corral.migrate.read2 import _JOB, _MAIN

    main_keys = set(MainCore.model_fields) - set(_MAIN) - _MAIN2
    job_keys = set(JobCore.model_fields) - set(_JOB)
    return ((isinstance(main, Map) and bool(main_keys & set(main)))
            or any(isinstance(job, Map) and job_keys & set(job) for job in jobs))


def _nxs_job(job: Any) -> bool:
    if not isinstance(job, Map):
        return False
    if _JOB2 & set(job) or job.get("type") in _TYPES2:
        return True
    sources = job["sources"] if isinstance(job.get("sources"), list) else []
    storages = job["storages"] if isinstance(job.get("storages"), list) else []
    return (any(isinstance(s, Map) and _SOURCE2 & set(s) for s in sources)
            or any(isinstance(s, Map) and _STORAGE2 & set(s) for s in storages))


def hint(path: Path) -> str | None:
    """The line ``corral check`` prints first for an nxs-backup file, or None when it is not one."""
    from corral.migrate import load

    try:
        found = nxs_only(load.read(path), path.parent)
    except (load.MigrateError, OSError, RecursionError):
        return None
    if found is None:
        return None
    return (f"{path}: this looks like an nxs-backup {found}.x configuration, not corral's: convert it with "
            f"`corral migrate --from {shlex.quote(str(path))} --to /etc/corral` (docs/migrating-from-nxs-backup.md)")
