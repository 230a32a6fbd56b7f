"""``corral drill``: restore each target's newest backup into a scratch place corral owns, check it, throw it away.

Per job: the first enabled storage holding backups (or ``--storage``), one listing, each target's newest archive,
the facts its manifest recorded at dump time, then the source's ``corral_source_drill`` in a private scratch
folder under the job's ``tmp_dir`` that is removed whatever happens (SIGTERM included: the run's processes are
stopped and the ``finally`` runs). One :class:`TargetDrill` per target; a source without a drill is a failed
target that says so, never a silent pass.
"""

from __future__ import annotations

import logging
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from corral.archive import Backup, own_backup
from corral.config.models import JobConfig
from corral.debugging import expected, explain
from corral.drilling import DrillReport, DrillRequest
from corral.encryption import SUFFIX as AGE_SUFFIX
from corral.encryption import DecryptingStorage
from corral.errors import CorralError, Interrupted
from corral.manifest import Entry
from corral.plugins import load_driver
from corral.proving import HashingStorage, entries_of, oldest_manifest, unlisted
from corral.run import RunContext
from corral.runner import Storage, source_extensions, storage_labels
from corral.workarea import new_work_dir

log = logging.getLogger("corral")
GRACE = 30.0  # seconds between a timed-out drill's SIGTERM and its SIGKILL


@dataclass
class TargetDrill:
    """One target's drill: ``ok`` when it restored and every comparison and check passed."""

    job: str
    target: str
    storage: str = ""
    archive: str = ""
    seconds: float = 0.0
    restored: str = ""
    checks: int = 0
    problems: list[str] = field(default_factory=list)
    finished: datetime | None = None
    skipped: str = ""  # why it was not drilled (a type corral cannot restore): neither passed nor failed

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class DrillResult:
    """Every target drilled, in order; ``errors`` are jobs that could not be drilled at all (no storage read)."""

    started: datetime
    targets: list[TargetDrill] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    finished: datetime | None = None

    @property
    def drilled(self) -> list[TargetDrill]:
        return [target for target in self.targets if not target.skipped]

    @property
    def ok(self) -> bool:
        return bool(self.drilled) and not self.errors and all(target.ok for target in self.targets)


def drill_job(job: JobConfig, run: RunContext, result: DrillResult, storage_name: str | None = None,
              identity: Path | None = None, target: str | None = None, say: Any = print) -> None:  # fmt: skip
    """Drill every target of ``job`` (or only ``target``) from the first storage that holds backups."""
    driver = load_driver("source", job.type)
    problems = []
    for config, label in zip(job.storages, storage_labels(job), strict=True):
        if not config.enable or storage_name not in (None, label, config.name):
            continue
        storage = None
        try:
            storage = Storage(config, job, label)
            newest = _newest(storage, job)
            if target is not None:
                newest = {name: backup for name, backup in newest.items() if name == target}
            if not newest:
                problems.append(f"storage {label}: no backup of {f'`{target}`' if target else 'any target'}")
                continue
            oldest = oldest_manifest(storage.listed or [], storage.root)
            entries = entries_of(storage, job, [b.path for b in newest.values()])  # a skipped manifest: a warning
            for name, backup in sorted(newest.items()):
                if backup.path not in entries and (refused := unlisted(backup.path, oldest, label)) is not None:
                    # never restored, not even into scratch: a planted dump would run in the throwaway server
                    result.targets.append(TargetDrill(job.name, name, label, backup.path, problems=[refused],
                                                      finished=datetime.now()))
                    continue
                hashing = HashingStorage(storage)  # what the drill reads is proven against the manifest too
                view = DecryptingStorage(hashing, identity) if identity is not None else hashing
                result.targets.append(_drill_one(driver, job, view, label, name, backup, entries, run, say))
                read = sorted(hashing.digests)  # an incremental chain's older levels too
                entries |= entries_of(storage, job, [path for path in read if path not in entries])
                result.targets[-1].problems += hashing.mismatches(entries)
                result.targets[-1].problems += [refused for path in read if path not in entries
                                                if (refused := unlisted(path, oldest, label)) is not None]
            return
        except Interrupted:
            raise
        except CorralError as exc:
            problems.append(f"storage {label}: {exc}")
        except Exception as exc:
            problems.append(f"storage {label}: {explain(exc)[:300]}")
        finally:
            if storage is not None:
                storage.close()
    result.errors.append(f"job {job.name}: nothing to drill: {'; '.join(problems) or 'no enabled storage'}")


def _newest(storage: Storage, job: JobConfig) -> dict[str, Backup]:
    newest: dict[str, Backup] = {}
    for remote in storage.list():
        backup = own_backup(remote, storage.root, source_extensions(job))
        if backup is not None and (backup.target not in newest or backup.made > newest[backup.target].made):
            newest[backup.target] = backup
    return newest


def _drill_one(driver: Any, job: JobConfig, storage: Any, label: str, target: str, backup: Backup,
               entries: dict[str, Entry], run: RunContext, say: Any) -> TargetDrill:  # fmt: skip
    drill = TargetDrill(job.name, target, label, backup.path)
    settings = job.drill
    checks = [c for c in (settings.checks if settings else []) if c.target in (None, target)]
    if backup.path.endswith(f".{AGE_SUFFIX}") and not isinstance(storage, DecryptingStorage):
        drill.problems.append("its archives are encrypted (`encrypt:`): give the age secret key with --identity FILE")
        return drill
    scratch = new_work_dir(job.tmp_dir)
    started = time.monotonic()
    timeout: float | None = run.main.drill_timeout if run.main is not None else None
    watch = _Watch(run, timeout)
    try:
        recorded = entries[backup.path].facts if backup.path in entries else {}
        request = DrillRequest(archive=backup, facts=recorded, scratch=scratch, checks=checks, say=say,
                               server=settings.server if settings else None,
                               tolerance=settings.tolerance if settings else 0.1)
        report: DrillReport | None = driver.hook.corral_source_drill(job=job, storage=storage, target=target,
                                                                     run=run, request=request)
        if report is None:
            drill.skipped = f"type `{job.type}` has no drill (corral fetches its archives for their own tool)"
        else:
            drill.restored, drill.checks, drill.problems = report.restored, report.checks, list(report.problems)
            if report.compared and not request.facts:  # made before manifests, or its manifest gone (corral verify)
                drill.restored += "; no facts recorded at dump time to compare with"
    except Interrupted:
        raise
    except Exception as exc:
        line = explain(exc)  # a bug's origin; with --debug, its traceback
        message = str(exc).strip().splitlines()
        drill.problems.append(f"restore failed: {message[0][:300] if message and expected(exc) else line}")
    finally:
        watch.done()
        shutil.rmtree(scratch, ignore_errors=True)
        drill.seconds = time.monotonic() - started
        drill.finished = datetime.now()
    if watch.expired.is_set():  # whatever the source made of its programs dying, this is why
        drill.skipped, drill.checks = "", 0
        drill.problems = [f"drill timed out after {timeout:g} s (drill_timeout) and was stopped"]
    return drill


class _Watch:
    """The target's clock: past ``timeout`` seconds the run's programs get SIGTERM, and SIGKILL if the drill has
    not ended :data:`GRACE` seconds later (a throwaway server that ignores SIGTERM), so the source's call returns."""

    def __init__(self, run: RunContext, timeout: float | None) -> None:
        self.run, self.timeout = run, timeout
        self.expired, self._ended = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._watch, name="corral-drill-timeout", daemon=True)
        if timeout:
            self._thread.start()

    def _watch(self) -> None:
        assert self.timeout is not None
        if self._ended.wait(self.timeout):
            return
        self.expired.set()
        log.warning("drill timed out after %g s (drill_timeout): stopping its programs", self.timeout)
        self.run.signal_processes(signal.SIGTERM)
        if not self._ended.wait(GRACE):
            self.run.signal_processes(signal.SIGKILL)

    def done(self) -> None:
        self._ended.set()
