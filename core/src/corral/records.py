"""Run records: a small JSON file per job, kind and run, written beside the job's archives on each storage.

After ``corral start`` (per job, on each of its storages that answered), ``corral verify`` and ``corral drill``
(per job, on each enabled storage of the job), one record says what happened: which server, when, the outcome
per target and per storage, the sizes, the versions, and the error lines, masked like the log. A fleet console
reads them from the storages the servers already share (docs/run-records.md)::

    <backup_dir>/<job>/.runs/<YYYY-MM-DD_HH-MM-SS>.<server>.<kind>.json

The stamp is the run's clock (the one naming its archives); ``<server>`` is ``main.server_name`` reduced to
``[A-Za-z0-9._-]``, so servers sharing a bucket never write the same name; ``<kind>`` is ``start``, ``verify`` or
``drill``. One flat folder per job: a console lists ``<backup_dir>/*/.runs/`` with one prefix listing on S3.

Written through the storage's ``put`` (a hidden temp name, then a rename, or a multipart upload): a record is
whole or absent. A record that cannot be written is a warning, never a failed job. Retention removes a record
with the archives of its run (:func:`expired_records`).
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
import tempfile
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corral.archive import RECORDS_DIR, STAMP_FORMAT, Backup, RemoteFile, parse_backup
from corral.retention import expired

if TYPE_CHECKING:
    from corral.config.models import JobConfig, Store
    from corral.drill import DrillResult
    from corral.run import JobResult, RunContext
    from corral.runner import Storage
    from corral.verify import VerifyResult

log = logging.getLogger("corral")
FORMAT = 1
KINDS = ("start", "verify", "drill")
MAX_LINES = 50  # error or warning lines kept in a record; the count of the others is said
MAX_LINE = 500  # characters of one line
MAX_TARGETS = 100  # targets listed in a record; the failed first, the others counted in `targets_left_out`
MAX_BYTES = 64 * 1024  # beyond, each target keeps its first error line only (the job's `errors` have them all)
_NAME = re.compile(r"(?P<stamp>\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})\.(?P<server>[A-Za-z0-9._-]+)\."
                   r"(?P<kind>start|verify|drill)\.json")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_TARGET_IN_LINE = re.compile(r"(?:^|: )target (?P<target>[^\s:]+):")


def server_part(server: str) -> str:
    """``main.server_name`` as it goes into a record's name: ``[A-Za-z0-9._-]``, at most 100 characters."""
    part = _UNSAFE.sub("_", server.strip())[:100].strip(".") or "server"
    return part


def folder(root: str) -> str:
    return posixpath.join(root, RECORDS_DIR)


def record_path(root: str, stamp: str, server: str, kind: str) -> str:
    return posixpath.join(folder(root), f"{stamp}.{server_part(server)}.{kind}.json")


@dataclass(frozen=True)
class RecordName:
    """A stored record recognised by its path: exactly ``<root>/.runs/<stamp>.<server>.<kind>.json``."""

    path: str
    stamp: str
    server: str
    kind: str
    made: datetime


def parse_name(name: str) -> tuple[str, str, str, datetime] | None:
    """A record's file name as (stamp, server part, kind, time), or None when it is not one."""
    match = _NAME.fullmatch(name)
    if match is None:
        return None
    try:
        made = datetime.strptime(match["stamp"], STAMP_FORMAT)
    except ValueError:
        return None
    return match["stamp"], match["server"], match["kind"], made


def parse_record(remote: RemoteFile, root: str) -> RecordName | None:
    """``remote`` as a run record of the job whose folder is ``root``, or None (a link, another name or place)."""
    parent, name = posixpath.split(posixpath.normpath(remote.path))
    parts = parse_name(name)
    if remote.link or parts is None or parent != posixpath.normpath(folder(root)):
        return None
    return RecordName(remote.path, *parts)


def expired_records(files: Iterable[RemoteFile], root: str, store: Store, now: datetime, weekly_day: int,
                    server: str, kept_stamps: set[str]) -> list[str]:  # fmt: skip
    """The records of this server that retention deletes, by the rule archives follow.

    A record is kept while an archive made at its time would be (the same days, weeks and months,
    :func:`corral.retention.expired`, each kind of record counted apart so the newest of each kind always
    stays), and while an archive of its run (``kept_stamps``: the stamps of the archives that stay) is still
    stored. Only this server's records: another server sharing the folder keeps its own.
    """
    if not store.enabled:
        return []
    mine = server_part(server)
    found = [record for record in (parse_record(remote, root) for remote in files)
             if record is not None and record.server == mine]  # fmt: skip
    backups = [Backup(made=record.made, target=record.kind, path=record.path) for record in found]
    stamps = {record.path: record.stamp for record in found}
    return [backup.path for backup in expired(backups, store, now, weekly_day)
            if stamps[backup.path] not in kept_stamps]  # fmt: skip


def _utc(moment: datetime | None) -> str | None:
    """A wall-clock time (naive: this server's local time) in UTC ISO 8601."""
    if moment is None:
        return None
    aware = moment if moment.tzinfo is not None else moment.astimezone()
    return aware.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _lines(lines: Iterable[str]) -> list[str]:
    kept = [line if len(line) <= MAX_LINE else line[: MAX_LINE - 3] + "..." for line in lines]
    if len(kept) > MAX_LINES:
        return [*kept[: MAX_LINES - 1], f"... and {len(kept) - MAX_LINES + 1} more line(s): see the log"]
    return kept


def _targets(targets: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """``targets`` (sorted by name, the failed ones kept first when there are too many) and ``targets_left_out``:
    a job of 300 sites keeps its record at a few KB; its totals still count every target."""
    every = sorted(targets, key=lambda t: t["target"])
    if len(every) <= MAX_TARGETS:
        return {"targets": every, "targets_left_out": 0}
    kept = sorted(every, key=lambda t: t["outcome"] == "ok")[:MAX_TARGETS]  # stable: by name within each kind
    return {"targets": sorted(kept, key=lambda t: t["target"]), "targets_left_out": len(every) - len(kept)}


def _masked(value: Any, mask: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, list):
        return [_masked(item, mask) for item in value]
    if isinstance(value, dict):
        return {mask(str(key)): _masked(item, mask) for key, item in value.items()}
    return value


def _versions(job: JobConfig) -> tuple[str, dict[str, str]]:
    from corral import __version__
    from corral.plugins import distribution_of

    plugins: dict[str, str] = {}
    for kind, name in [("source", job.type), *(("storage", storage.name) for storage in job.storages)]:
        dist, version = distribution_of(kind, name)
        if dist != "?":
            plugins[dist] = version
    return __version__, dict(sorted(plugins.items()))


def _head(kind: str, job: JobConfig, run: RunContext, started: datetime | None, finished: datetime | None,
          ok: bool) -> dict[str, Any]:  # fmt: skip
    corral, plugins = _versions(job)
    return {"format": FORMAT, "kind": kind, "server": str(run.main.server_name), "job": job.name, "type": job.type,
            "stamp": run.now.strftime(STAMP_FORMAT), "started": _utc(started), "finished": _utc(finished),
            "outcome": "ok" if ok else "failed", "corral": corral, "plugins": plugins}


def start_record(job: JobConfig, run: RunContext, result: JobResult) -> dict[str, Any]:
    """The record of one job of ``corral start``."""
    targets: dict[str, dict[str, Any]] = {}

    def target(name: str) -> dict[str, Any]:
        return targets.setdefault(name, {"target": name, "outcome": "", "archives": 0, "size": 0, "stored": None,
                                         "failed": {}, "errors": []})

    for archive in result.archives:  # one per target, or several (a chain's levels, a source's subdirs)
        entry = target(archive.target)
        entry["archives"] += 1
        entry["size"] += archive.size
        labels = set(archive.stored)
        entry["stored"] = labels if entry["stored"] is None else entry["stored"] & labels
        for label, cause in archive.failed.items():
            entry["failed"].setdefault(label, _lines([cause])[0])
    for line in result.errors:
        match = _TARGET_IN_LINE.search(line)
        if match is not None:
            target(match["target"])["errors"].append(line)
    for entry in targets.values():
        entry["stored"] = sorted(entry["stored"] or ())
        entry["failed"] = dict(sorted(entry["failed"].items()))
        entry["errors"] = _lines(entry["errors"])
        entry["outcome"] = "ok" if entry["archives"] and entry["stored"] and not entry["errors"] \
            and not entry["failed"] else "failed"
    storages = [{"label": storage.label, "storage": storage.name, "backup_dir": storage.backup_dir,
                 "enabled": storage.enabled, "outcome": "ok" if storage.ok else ("disabled" if not storage.enabled
                                                                                  else "failed"),
                 "stored": len(storage.stored), "size": storage.size, "deleted": len(storage.deleted),
                 "errors": _lines(storage.failures)} for storage in result.storages]  # fmt: skip
    record = _head("start", job, run, result.started, result.finished, result.ok)
    record |= {"seconds": round(result.seconds, 1), "size": sum(archive.size for archive in result.archives),
               **_targets(targets.values()), "storages": storages,
               "errors": _lines(result.errors), "warnings": _lines(result.warnings)}
    return _masked(record, run.mask)


def verify_record(job: JobConfig, run: RunContext, result: VerifyResult) -> dict[str, Any]:
    """The record of one job of ``corral verify``."""
    checks = [check for check in result.storages if check.job == job.name]
    targets: dict[str, dict[str, Any]] = {}
    storages = []
    for check in checks:
        for archive in check.archives:
            backup = parse_backup(RemoteFile(archive.path, 0))
            name = backup.target if backup is not None else "?"
            entry = targets.setdefault(name, {"target": name, "checked": 0, "ok": 0, "errors": []})
            entry["checked"] += 1
            entry["ok"] += archive.ok
            if not archive.ok:
                entry["errors"].append(f"storage {check.storage}: {archive.status} `{archive.path}`: {archive.detail}")
        statuses: dict[str, int] = {}
        for archive in check.archives:
            statuses[archive.status] = statuses.get(archive.status, 0) + 1
        storages.append({"label": check.storage, "backup_dir": check.backup_dir,
                         "outcome": "ok" if check.ok else "failed", "checked": len(check.archives),
                         "statuses": dict(sorted(statuses.items())),
                         "errors": _lines([check.error] if check.error else [])})  # fmt: skip
    for entry in targets.values():
        entry["errors"] = _lines(entry["errors"])
        entry["outcome"] = "ok" if entry["checked"] and entry["checked"] == entry["ok"] else "failed"
    errors = [f"storage {check.storage}: {check.error}" for check in checks if check.error]
    errors += [line for entry in targets.values() for line in entry["errors"]]
    errors += [f"storage {check.storage}: no archive stored" for check in checks
               if not check.error and not check.archives]  # fmt: skip
    ok = bool(checks) and all(check.ok for check in checks)
    record = _head("verify", job, run, result.started, result.finished, ok)
    record |= {"deep": result.deep, **_targets(targets.values()),
               "storages": storages, "errors": _lines(errors)}
    return _masked(record, run.mask)


def drill_record(job: JobConfig, run: RunContext, result: DrillResult) -> dict[str, Any]:
    """The record of one job of ``corral drill``."""
    drilled = [target for target in result.targets if target.job == job.name]
    targets = [{"target": target.target, "storage": target.storage, "archive": target.archive,
                "outcome": "skipped" if target.skipped else ("ok" if target.ok else "failed"),
                "seconds": round(target.seconds, 1), "restored": target.restored, "checks": target.checks,
                "skipped": target.skipped, "errors": _lines(target.problems)} for target in drilled]  # fmt: skip
    prefix = f"job {job.name}: "
    errors = [line for line in result.errors if line.startswith(prefix) or not line.startswith("job ")]
    errors += [f"target {target.target}: {problem}" for target in drilled for problem in target.problems]
    ok = any(not target.skipped for target in drilled) and not errors
    record = _head("drill", job, run, result.started, result.finished, ok)
    record |= {**_targets(targets), "errors": _lines(errors)}
    return _masked(record, run.mask)


def render(record: dict[str, Any]) -> str:
    """Compact JSON on one line (a few hundred bytes for a job of a few targets), UTF-8; past :data:`MAX_BYTES`
    (a hundred targets failing with long messages), each target keeps its first error line, then none."""
    text = _json(record)
    for keep in (1, 0):
        if len(text.encode()) <= MAX_BYTES:
            break
        for target in record.get("targets", []):
            target["errors"] = target["errors"][:keep]
        text = _json(record)
    return text


def _json(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"


def write_record(storage: Storage, record: dict[str, Any], server: str, work_dir: Path | None = None) -> str:
    """Put ``record`` on ``storage`` (its ``put``: whole or absent); returns its path. Raises what the storage
    raises: the caller makes it a warning."""
    remote = record_path(storage.root, record["stamp"], server, record["kind"])
    with tempfile.TemporaryDirectory(prefix="corral-record-", dir=work_dir) as local_dir:
        local = Path(local_dir) / posixpath.basename(remote)
        local.write_text(render(record), encoding="utf-8")
        storage.put(local, remote)
    return remote


def write_everywhere(storages: Iterable[Storage], record: dict[str, Any], server: str,
                     work_dir: Path | None = None) -> list[str]:  # fmt: skip
    """Write ``record`` on each storage; one warning line per storage that did not take it."""
    from corral.debugging import explain
    from corral.errors import Interrupted

    warnings = []
    for storage in storages:
        try:
            remote = write_record(storage, record, server, work_dir)
            log.info("storage %s: run record `%s` written", storage.label, posixpath.basename(remote))
        except Interrupted:
            raise
        except Exception as exc:
            warnings.append(f"storage {storage.label}: the run record could not be written (the run's outcome is "
                            f"unchanged): {explain(exc)}")
    return warnings


def write_for_jobs(kind: str, jobs: Iterable[JobConfig], run: RunContext,
                   build: Callable[[JobConfig], dict[str, Any] | None],
                   unreadable: Collection[tuple[str, str]] = ()) -> list[str]:  # fmt: skip
    """``corral verify`` and ``corral drill``: each job's record on each of its enabled storages, each opened
    for it; the warnings (a storage that cannot be opened or written), masked. ``unreadable``: (job, label) of
    the storages the command could not read: not tried again (they would wait for the same timeouts)."""
    from corral.debugging import explain
    from corral.errors import Interrupted
    from corral.runner import Storage, storage_labels

    warnings = []
    for job in jobs:
        record = build(job)
        if record is None:
            continue
        for config, label in zip(job.storages, storage_labels(job), strict=True):
            if not config.enable or (job.name, label) in unreadable:
                continue
            storage = None
            try:
                storage = Storage(config, job, label)
                warnings += [f"job {job.name}: {line}"
                             for line in write_everywhere([storage], record, str(run.main.server_name))]
            except Interrupted:
                raise
            except Exception as exc:
                warnings.append(f"job {job.name}: storage {label}: the {kind} record could not be written: "
                                f"{explain(exc)}")
            finally:
                if storage is not None:
                    storage.close()
    masked = [run.mask(line) for line in warnings]
    for line in masked:
        log.warning("%s", line)
    return masked
