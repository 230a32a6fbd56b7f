"""``corral restore``: bring a target back as it was on a date, from one storage.

The source plugin restores when it knows how (``desc_files`` and ``inc_files`` extract with tar, applying an
incremental chain in order); otherwise the newest archive made on or before the date is fetched for the
standard tool.
"""

from __future__ import annotations

import logging
import posixpath
from datetime import date, datetime, time
from pathlib import Path

from corral import clock, logs
from corral.archive import Backup, own_backup
from corral.config import load_config
from corral.config.models import JobConfig
from corral.errors import ConfigError, CorralError
from corral.masking import Masker
from corral.plugins import load_driver
from corral.run import RunContext
from corral.runner import Storage, source_extensions

log = logging.getLogger("corral")


def backups_of(storage: Storage, target: str, until: datetime, job: JobConfig) -> list[Backup]:
    """The target's stored backups made up to ``until``, oldest first (only files corral could have written)."""
    found = (own_backup(f, storage.root, source_extensions(job)) for f in storage.list())
    return sorted(b for b in found if b is not None and b.target == target and b.made <= until)


def restore(
    config_path: Path, job_name: str, target: str, day: date, dest: Path, storage_name: str | None
) -> list[str]:
    """Restore ``target`` of ``job_name`` into ``dest`` as of the end of ``day``; returns the paths applied."""
    config = load_config(config_path)
    logs.setup(None, config.secrets)  # a storage's warnings (a retried connection) reach stderr masked
    job = next((j for j in config.jobs if j.name == job_name), None)
    if job is None:
        names = ", ".join(j.name for j in config.jobs) or "none"
        raise ConfigError([f"{config_path}: no job named `{job_name}` (jobs: {names})"])
    candidates = [s for s in job.storages if s.enable and (storage_name is None or s.name == storage_name)]
    if not candidates:
        raise ConfigError([f"{config_path}: job `{job_name}` has no enabled storage `{storage_name}`"])
    until = datetime.combine(day, time.max)
    run = RunContext(now=clock.now(), main=config.main, config_path=config_path)
    driver = load_driver("source", job.type)
    problems = []
    for storage_config in candidates:
        try:
            storage = Storage(storage_config, job)
            found = backups_of(storage, target, until, job)
            if not found:
                problems.append(f"storage {storage.name}: no backup of `{target}` made on or before {day}")
                continue
        except CorralError:
            raise
        except Exception as exc:
            problems.append(f"storage {storage_config.name}: {type(exc).__name__}: {exc}")
            continue
        try:
            dest.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CorralError(f"cannot restore into `{dest}`: {exc.strerror or exc}") from None
        if not dest.is_dir():
            raise CorralError(f"cannot restore into `{dest}`: it is not a folder")
        applied = driver.hook.corral_source_restore(job=job, storage=storage, target=target, date=until, dest=dest,
                                                    run=run)
        if applied is None:
            newest = found[-1]  # listed once, above, where a lost connection is one line
            into = dest / posixpath.basename(newest.path)
            try:
                storage.get(newest.path, into)
            except OSError as exc:
                reason = Masker(config.secrets)(exc.strerror or str(exc))
                raise CorralError(f"storage {storage.name}: cannot fetch `{newest.path}` into `{into}`: {reason}") \
                    from None
            applied = [newest.path]
        return list(applied)
    raise CorralError(Masker(config.secrets)("; ".join(problems)))
