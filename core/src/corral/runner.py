"""The job runner: for each job, rotate every storage, dump every source, store every archive everywhere.

Decided failure scope (what stops what): a storage that cannot be opened, listed or written fails that storage
for that job; a target that fails fails that target; a source that fails fails that source; the job goes on
with the rest and is reported failed; the run goes on with the next job. Only SIGTERM/SIGINT stop a run.
"""

from __future__ import annotations

import functools
import logging
import posixpath
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import pluggy

from corral.archive import STAMP_FORMAT, Archive, DumpFailure, StreamedArchive, archive_name, own_backup
from corral.checksum import Checksum, Digest, file_digest
from corral.config.models import JobConfig, StorageConfig
from corral.config.validate import Config
from corral.debugging import describe, explain
from corral.encryption import SUFFIX as AGE_SUFFIX
from corral.encryption import as_stream, encrypted
from corral.errors import ConfigError, CorralError, DumpError, Interrupted, StorageUnreachable
from corral.fanout import STALL, Leg, SpoolFile, Upload, commit_all, fan_out
from corral.logs import current_job
from corral.manifest_sync import sync_manifests
from corral.plugins import Driver, broadcast, load_driver
from corral.records import expired_records, start_record, write_everywhere
from corral.remote import is_transient
from corral.retention import expired
from corral.run import ArchiveOutcome, JobResult, RunContext, StorageOutcome, StoredFile, human_size
from corral.storage_defaults import orphaned_upload, partial_pattern
from corral.workarea import full_disk_note, new_work_dir

log = logging.getLogger("corral")
GROUP_ORDER = ("files", "databases", "external")


def select_jobs(config: Config, name: str) -> list[str]:
    """Job names for ``corral start NAME``: a job, or ``all`` / ``files`` / ``databases`` / ``external``.

    Jobs that cannot run (``config.unavailable``) are selected like the others, to be reported failed; one whose
    group is unknown (a job file that could not be read) belongs to every group, and to a job name that no valid
    job has: the job asked for may be the broken file's.
    """
    names = [job.name for job in config.jobs] + list(config.unavailable)
    groups = {job.name: job.group for job in config.jobs} | config.groups
    if name == "all":
        return sorted(names, key=lambda n: GROUP_ORDER.index(groups.get(n, "external")))
    if name in GROUP_ORDER:
        return [n for n in names if groups.get(n, name) == name]
    if name in names:
        return [name]
    unknown = [n for n in config.unavailable if n in config.unnamed]
    if unknown:
        log.error("no job named `%s` among the jobs that could be read", name)
        return unknown
    known = ", ".join(names) or "none"
    raise ConfigError([f"{config.path}: no job named `{name}` (jobs: {known}; or all, files, databases, external)"])


class Storage:
    """One enabled storage of a job, opened through its plugin.

    Sources that keep state on the storages (``inc_files`` chains) get these objects in their dump hook.
    """

    def __init__(self, config: StorageConfig, job: JobConfig, label: str | None = None) -> None:
        self.config = config
        self.name = config.name
        self.label = label or config.name
        self.root = posixpath.join(config.backup_dir, job.name)
        self.driver: Driver = load_driver("storage", config.name)
        self.fs = self.driver.hook.corral_storage_filesystem(config=config)
        self.location = _location(self.fs)
        # why the storage is out for the rest of the job: it did not answer after its retries, or an upload
        # outlived upload_timeout and its thread may still hold the connection (which two transfers never share);
        # every later archive for it fails at once instead of waiting for the same timeouts again
        self.out = ""
        self.uploading: set[str] = set()  # remote paths whose upload has started and not ended
        self.closed = False  # the job is over (or interrupted): an abandoned upload that ends now reports nothing
        self.listed: list[Any] | None = None  # the last listing, for the manifests (corral.manifest_sync)
        self.deleted: list[str] = []  # what this job deleted (rotation, a source's chains): out of the manifests

    def take_out(self, why: str) -> None:
        if not self.out:
            self.out = why
            log.error("storage %s is out for the rest of this job: %s", self.label, why)

    def cut_short(self) -> list[str]:
        """Say which uploads did not end (interrupted or timed out): their temp files wait for the next rotation."""
        return [f"storage {self.label}: the upload of `{remote}` did not finish; its temp file "
                f"`{partial_pattern(remote)}` may stay on the storage until the next run's rotation removes it"
                for remote in sorted(self.uploading)]

    def path_for(self, archive: Archive | StreamedArchive, made: Any) -> str:
        """Where an archive goes: ``<backup_dir>/<job>/<target>/[<subdir>/]<target>_<date>_<time>.<ext>``."""
        name = archive_name(archive.target, archive.made or made, archive.extension)
        return posixpath.join(self.root, archive.target, archive.subdir, name)

    def put(self, local: Path, remote: str) -> None:
        self.driver.hook.corral_storage_put(fs=self.fs, local_path=local, remote_path=remote,
                                            file_mode=self.config.file_mode, dir_mode=self.config.dir_mode)

    def open_upload(self, remote: str) -> Upload | None:
        """Begin storing a stream at ``remote``; None when this storage takes files only (or ``spool: yes``)."""
        if self.config.spool:
            return None
        return self.driver.hook.corral_storage_open_upload(fs=self.fs, remote_path=remote,
                                                           file_mode=self.config.file_mode,
                                                           dir_mode=self.config.dir_mode)

    def get(self, remote: str, local: Path) -> None:
        self.driver.hook.corral_storage_get(fs=self.fs, remote_path=remote, local_path=local)

    def open_read(self, remote: str) -> BinaryIO:
        """The stored file ``remote`` as a stream (close it when done)."""
        return self.driver.hook.corral_storage_open_read(fs=self.fs, remote_path=remote)

    def list(self) -> list[Any]:
        self.listed = self.driver.hook.corral_storage_list(fs=self.fs, root=self.root)
        return self.listed

    def delete(self, path: str) -> None:
        self.driver.hook.corral_storage_delete(fs=self.fs, path=path)
        self.deleted.append(path)

    def close(self) -> None:
        """Release the connection (an ``ssh`` child, an SMB session...) when the job is done with it."""
        self.closed = True
        close = getattr(self.fs, "close", None)
        if callable(close):
            try:
                close()
            except Exception as exc:  # the job's outcome is settled; a failing goodbye changes nothing
                log.debug("storage %s: closing the connection failed: %s", self.label, describe(exc))


def _unreachable(exc: BaseException) -> bool:
    """Whether the storage stopped answering (after its retries): it is out for the rest of the job."""
    return isinstance(exc, StorageUnreachable) or is_transient(exc)


def _location(fs: Any) -> str:
    """Where a storage's paths live, for messages: ``sftp://backup@host:22``, ``s3://bucket@host`` (a remote
    filesystem's ``label`` without its notes); empty for local folders."""
    label = str(getattr(fs, "label", "") or "")
    return label.split(" ", 1)[0].rstrip("/") if "://" in label else ""


def storage_labels(job: JobConfig) -> list[str]:
    """A name per storage entry: its kind, numbered when a job has several of one kind (``local#2``)."""
    kinds = [storage.name for storage in job.storages]
    seen: dict[str, int] = {}
    labels = []
    for kind in kinds:
        seen[kind] = seen.get(kind, 0) + 1
        labels.append(kind if seen[kind] == 1 else f"{kind}#{seen[kind]}")
    return labels


def _fail(result: JobResult, message: str, outcome: StorageOutcome | None = None) -> None:
    result.errors.append(message)
    if outcome is not None:
        outcome.failures.append(message)
    log.error("%s", message)


def run_job(job: JobConfig, run: RunContext, events: pluggy.PluginManager) -> JobResult:
    """Run one job to the end, whatever fails inside it; only an interrupt escapes."""
    token = current_job.set(job.name)
    result = JobResult(job=job.name, type=job.type, started=datetime.now())
    result.storages = [StorageOutcome(s.name, label, s.backup_dir, s.enable)
                       for s, label in zip(job.storages, storage_labels(job), strict=True)]
    started = time.monotonic()
    log.info("job started (type %s)", job.type)
    broadcast(events, "corral_job_started", run=run, job=job)
    work_dir: Path | None = None
    storages: list[Storage] = []
    interrupted = False
    try:
        storages = _open_storages(job, result)
        outcomes = {outcome.label: outcome for outcome in result.storages}
        for storage in storages:
            _rotate(storage, job, run, events, result, outcomes[storage.label])
        if storages:
            work_dir = new_work_dir(job.tmp_dir)
            _dump_and_store(job, run, events, storages, work_dir, result, outcomes)
            _write_manifests(job, run, storages, work_dir, result, outcomes)
        elif not result.errors:
            result.errors.append("no enabled storage")
            log.error("no enabled storage: nothing to do")
    except Interrupted as exc:
        interrupted = True
        result.errors.append("interrupted")
        for storage in storages:
            storage.closed = True
            for line in storage.cut_short():
                _fail(result, line)
        exc.job_result = result  # what the job did before: the run's report includes it
        raise
    except CorralError as exc:  # the work folder is unsafe or cannot be made: this job cannot dump
        _fail(result, str(exc))
    except Exception as exc:  # a bug or an unforeseen failure fails this job, never the run and the jobs after it
        _fail(result, f"unexpected error: {explain(exc)}")
    finally:
        result.seconds = time.monotonic() - started
        result.finished = datetime.now()
        if not interrupted:  # a SIGTERM ends the run now: no more storage round trips
            _write_record(job, run, storages, work_dir, result)
        if work_dir is not None:
            shutil.rmtree(work_dir, ignore_errors=True)
        for storage in storages:
            storage.close()
        if result.ok:
            log.info("job finished successfully in %.1f s", result.seconds)
        else:
            log.error("job finished with %d error(s) in %.1f s", len(result.errors), result.seconds)
        run.mask.scrub(result)  # what notifiers, the summary and corral_run_finished see
        broadcast(events, "corral_job_finished", run=run, job=job, result=result)
        current_job.reset(token)
    return result


def _write_record(job: JobConfig, run: RunContext, storages: list[Storage], work_dir: Path | None,
                  result: JobResult) -> None:
    """The job's run record on each storage that still answers (docs/run-records.md); one that does not take it
    is a warning: the job's outcome stays what its archives made it."""
    try:
        record = start_record(job, run, result)
        warnings = write_everywhere([s for s in storages if not s.out], record, str(run.main.server_name), work_dir)
    except Interrupted:
        raise
    except Exception as exc:  # a bug in the record must not fail a job whose archives are stored
        warnings = [f"the run record could not be made: {explain(exc)}"]
    for warning in warnings:
        result.warnings.append(warning)
        log.warning("%s", warning)


def _open_storages(job: JobConfig, result: JobResult) -> list[Storage]:
    storages = []
    for config, outcome in zip(job.storages, result.storages, strict=True):
        if not config.enable:
            log.info("storage %s is disabled (enable: no)", outcome.label)
            continue
        try:
            storages.append(Storage(config, job, outcome.label))
        except Interrupted:
            raise
        except Exception as exc:
            _fail(result, f"storage {outcome.label}: cannot connect: {explain(exc)}", outcome)
    return storages


def source_extensions(job: JobConfig) -> frozenset[str] | None:
    """The archive extensions the job's source declares (``SourceSchema.extensions``); None: any valid one."""
    return _declared_extensions(job.type)


@functools.cache
def _declared_extensions(job_type: str) -> frozenset[str] | None:
    """Asked once per type: rotation asks per storage and ``_store`` per archive."""
    schema = load_driver("source", job_type).hook.corral_source_schema()
    declared = getattr(schema, "extensions", None)  # each also encrypted (`encrypt`: `.age` appended)
    return None if declared is None else frozenset(declared) | {f"{ext}.{AGE_SUFFIX}" for ext in declared}


def _rotate(
    storage: Storage,
    job: JobConfig,
    run: RunContext,
    events: pluggy.PluginManager,
    result: JobResult,
    outcome: StorageOutcome,
) -> None:
    """Apply retention before the dump (the article's order), never deleting the newest copy of a target.

    Only corral's own files go: temp files of uploads that never finished (with or without ``store``) and,
    under ``store``, expired archives in their target's folder with an extension the job's source makes.
    """
    try:
        files = storage.list()
    except Interrupted:
        raise
    except Exception as exc:
        _fail(result, f"storage {storage.label}: cannot list `{storage.root}`: {explain(exc)}", outcome)
        if _unreachable(exc):
            storage.take_out("it did not answer the listing")
        return
    extensions = source_extensions(job)
    doomed = [f.path for f in files if orphaned_upload(f, storage.root, extensions, str(run.main.server_name))]
    if storage.config.store.enabled:
        backups = [b for b in (own_backup(f, storage.root, extensions) for f in files) if b is not None]
        gone = expired(backups, storage.config.store, run.now, run.main.weekly_backup_day)
        doomed += [b.path for b in gone]
        staying = {b.made.strftime(STAMP_FORMAT) for b in set(backups) - set(gone)}
        doomed += expired_records(files, storage.root, storage.config.store, run.now, run.main.weekly_backup_day,
                                  str(run.main.server_name), staying)
    for path in doomed:
        if storage.out:
            break
        try:
            storage.delete(path)
            outcome.deleted.append(path)
        except Interrupted:
            raise
        except Exception as exc:
            _fail(result, f"storage {storage.label}: rotation cannot delete `{path}`: {explain(exc)}", outcome)
            if _unreachable(exc):
                storage.take_out("it did not answer a delete")
    log.info("storage %s: rotation deleted %d old file(s)", storage.label, len(outcome.deleted))
    broadcast(events, "corral_rotation_done", run=run, job=job, storage=storage.label, deleted=outcome.deleted)


def source_label(source: object, index: int) -> str:
    """What messages call the ``index``-th source item: its ``name:``, else ``source N``."""
    name = getattr(source, "name", None)
    return name if isinstance(name, str) and name else f"source {index + 1}"


def _dump_and_store(
    job: JobConfig,
    run: RunContext,
    events: pluggy.PluginManager,
    storages: list[Storage],
    work_dir: Path,
    result: JobResult,
    outcomes: dict[str, StorageOutcome],
) -> None:
    try:
        driver = load_driver("source", job.type)
    except CorralError as exc:
        _fail(result, str(exc))
        return
    if job.encrypt is not None and shutil.which("age") is None:  # said once, before any dump is made
        _fail(result, "`encrypt` needs the age program, which is not installed (apt install age); nothing was dumped")
        return
    seen: set[tuple[str, str, str]] = set()
    timeout = run.main.dump_timeout
    for index, source in enumerate(job.sources or [None]):
        label = source_label(source, index) if job.sources else "dump"
        expired_dump = threading.Event()

        def stop_dump(expired_dump: threading.Event = expired_dump) -> None:
            expired_dump.set()
            run.signal_processes()

        timer = threading.Timer(timeout, stop_dump) if timeout else None
        if timer:
            timer.daemon = True
            timer.start()
        dumps = None
        try:
            dumps = driver.hook.corral_source_dump(job=job, source=source, tmp_dir=work_dir, run=run,
                                                   storages=storages)
            for item in dumps:
                if expired_dump.is_set():
                    raise TimeoutError
                if isinstance(item, DumpFailure):
                    _fail(result, f"{label}: target {item.target}: {item.error}{full_disk_note(work_dir)}")
                    continue
                key = (item.target, item.subdir, item.extension)
                if key in seen:
                    _drop(item)
                    _fail(result, f"{label}: target name `{item.target}` was already stored by this job; it would "
                          "overwrite that archive (give the targets distinct folder names or split the job)")
                    continue
                seen.add(key)
                dumping = isinstance(item, StreamedArchive)  # its dump runs while it is stored: its clock runs on
                if timer and not dumping:
                    timer.cancel()  # a finished file's upload has its own timeout; the dump clock restarts after
                if job.encrypt is not None:  # through age on its way out: only ciphertext reaches a storage
                    item = encrypted(item if isinstance(item, StreamedArchive) else as_stream(item), job.encrypt,
                                     run, work_dir)
                if isinstance(item, StreamedArchive) and job.spool:  # the job asks for today's temp file
                    item = _spool(item, work_dir)
                if isinstance(item, StreamedArchive):
                    _store_stream(item, job, run, events, storages, work_dir, result, outcomes, label, expired_dump)
                else:
                    _store(item, job, run, events, storages, result, outcomes)
                if timer and not dumping:
                    timer = threading.Timer(timeout, stop_dump)
                    timer.daemon = True
                    timer.start()
        except Interrupted:
            raise
        except Exception as exc:
            if expired_dump.is_set():
                _fail(result, f"{label}: dump timed out after {timeout:g} s (dump_timeout) and was stopped")
            else:
                _fail(result, f"{label}: {explain(exc)}{full_disk_note(work_dir)}")
        finally:
            if timer:
                timer.cancel()
            close = getattr(dumps, "close", None)  # the source's own cleanup runs now, even when interrupted
            if callable(close):
                with suppress(Exception):
                    close()


def _store(
    archive: Archive,
    job: JobConfig,
    run: RunContext,
    events: pluggy.PluginManager,
    storages: list[Storage],
    result: JobResult,
    outcomes: dict[str, StorageOutcome],
    outcome: ArchiveOutcome | None = None,
) -> None:
    """Put one archive on every storage at once, then delete the local copy (see :func:`_discard`).

    ``outcome``: the archive was streamed to the job's other storages and spooled to this file for these.
    """
    if outcome is not None:  # spooled from a stream: its checksum was taken on the way
        size = outcome.size
    else:
        try:
            digest = file_digest(archive.path)  # the bytes every storage gets: their SHA-256 goes in the manifests
        except OSError as exc:
            _fail(result, f"target {archive.target}: archive `{archive.path}` is missing: {exc.strerror}")
            return
        size = digest.size
        _check_extension(archive, job, result)
        outcome = _outcome_of(archive, digest)
        result.archives.append(outcome)
        _warn(archive.target, archive.warnings, result)
        log.info("target %s: archive made (%s)", archive.target, human_size(size))
    reported = outcome

    def put(storage: Storage) -> None:
        token = current_job.set(job.name)  # worker threads start with an empty context
        try:
            remote = storage.path_for(archive, run.now)
            if _skip_out(storage, archive.target, reported, result, outcomes):
                return
            started = time.monotonic()
            storage.uploading.add(remote)
            try:
                storage.put(archive.path, remote)
            except Exception as exc:
                storage.uploading.discard(remote)
                if storage.closed:  # abandoned (timed out, interrupted); the report named it already
                    log.debug("storage %s: the abandoned upload of `%s` ended: %s", storage.label, remote,
                              describe(exc))
                    return
                _upload_failed(storage, archive.target, remote, exc, reported, result, outcomes)
                return
            storage.uploading.discard(remote)
            _stored(storage, job, run, events, archive.target, remote, size, time.monotonic() - started, reported,
                    outcomes)
        finally:
            current_job.reset(token)

    pool = ThreadPoolExecutor(max_workers=len(storages), thread_name_prefix="corral-put")
    try:
        futures = {pool.submit(put, storage): storage for storage in storages}
        _done, late = wait(futures, timeout=run.main.upload_timeout)
        for future in late:
            storage = futures[future]
            outcome.failed[storage.label] = "timed out"
            _fail(result, f"storage {storage.label}: target {archive.target}: upload timed out after "
                  f"{run.main.upload_timeout:g} s (upload_timeout)", outcomes[storage.label])
            for line in storage.cut_short():
                _fail(result, line, outcomes[storage.label])
            storage.take_out("an upload timed out (upload_timeout) and may still hold the connection")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        _discard(archive, outcome, result)


def _store_stream(item: StreamedArchive, job: JobConfig, run: RunContext, events: pluggy.PluginManager,
                  storages: list[Storage], work_dir: Path, result: JobResult, outcomes: dict[str, StorageOutcome],
                  label: str, expired_dump: threading.Event) -> None:  # fmt: skip
    """Send a stream to every storage at once (:mod:`corral.fanout`); storages that take files only get it from a
    temp file written once, beside the stream, after it ended."""
    _check_extension(item, job, result)
    outcome = ArchiveOutcome(target=item.target, size=0, extension=item.extension, facts=dict(item.facts))
    result.archives.append(outcome)
    checksum = Checksum()  # for the manifests, taken as the bytes go by
    legs: dict[Leg, tuple[Storage, str]] = {}
    spooled: list[Storage] = []
    for storage in storages:
        remote = storage.path_for(item, run.now)
        if _skip_out(storage, item.target, outcome, result, outcomes):
            continue
        try:
            upload = storage.open_upload(remote)
        except Exception as exc:
            _upload_failed(storage, item.target, remote, exc, outcome, result, outcomes)
            continue
        if upload is None:
            spooled.append(storage)
            continue
        storage.uploading.add(remote)
        legs[Leg(storage.label, upload)] = (storage, remote)
    spool = SpoolFile(work_dir, f"{item.target}.{item.extension}") if spooled else None
    every = [*legs, *([Leg("spool", spool)] if spool else [])]
    started = time.monotonic()
    finishing = False
    try:
        size = fan_out(item.reader, every, run.main.upload_timeout or STALL, checksum.update)
        finishing = True
        warnings = item.finish()
        outcome.facts.update(item.facts)  # a stream's source may learn its facts only when it ends (tar's count)
    except Interrupted:
        _abort_all(legs, spool)  # a local temp file goes at once; one on a remote storage may stay (named)
        result.archives.remove(outcome)  # not stored anywhere: the summary must not count it
        raise
    except Exception as exc:  # the archive is not complete: nothing appears anywhere
        _abort_all(legs, spool)
        result.archives.remove(outcome)
        if not finishing:  # the stream broke: its program is ended and waited for (finish raised: it was)
            with suppress(Exception):
                _drop(item)
        cause = (f"dump timed out after {run.main.dump_timeout:g} s (dump_timeout) and was stopped"
                 if expired_dump.is_set() else f"{explain(exc)}{full_disk_note(work_dir)}")
        _fail(result, f"{label}: target {item.target}: {cause}; nothing was stored")
        return
    seconds = time.monotonic() - started
    outcome.size, outcome.sha256 = size, checksum.digest().sha256
    _warn(item.target, warnings, result)
    log.info("target %s: archive made and streamed (%s, %.1f s)%s", item.target, human_size(size), seconds,
             f"; written to a temp file for {', '.join(s.label for s in spooled)} (spool: yes, or no stream support)"
             if spooled else "")
    commit_all(legs, size)
    for leg, (storage, remote) in legs.items():
        _finish_leg(leg, storage, remote, size, seconds, job, run, events, item.target, outcome, result, outcomes)
    if spool is not None and spool.path is not None:
        try:
            spool.commit(size)
        except OSError as exc:
            full = full_disk_note(work_dir)  # before the short file goes
            spool.abort(None)
            _fail(result, f"target {item.target}: the temp file for {', '.join(s.label for s in spooled)} could "
                  f"not be written: {exc}{full}")
            return
        archive = Archive(path=spool.path, target=item.target, extension=item.extension, subdir=item.subdir,
                          made=item.made)
        _store(archive, job, run, events, spooled, result, outcomes, outcome)


def _abort_all(legs: dict[Leg, tuple[Storage, str]], spool: SpoolFile | None) -> None:
    """Give up every upload of a stream that will not be stored (a stuck one is left to the job's end)."""
    for leg, (storage, remote) in legs.items():
        if not leg.stalled:
            with suppress(Exception):
                leg.upload.abort(leg.error)  # after a storage's own failure: left if it stopped answering
            storage.uploading.discard(remote)
    if spool:
        spool.abort(None)


def _finish_leg(leg: Leg, storage: Storage, remote: str, size: int, seconds: float, job: JobConfig,
                run: RunContext, events: pluggy.PluginManager, target: str, outcome: ArchiveOutcome,
                result: JobResult, outcomes: dict[str, StorageOutcome]) -> None:  # fmt: skip
    """Report one storage's upload of a complete stream as stored (it was committed), or why it failed (and
    abort it)."""
    if leg.error is None:
        storage.uploading.discard(remote)
        _stored(storage, job, run, events, target, remote, size, seconds, outcome, outcomes, ", streamed")
        return
    if leg.stalled:
        storage.take_out("it took no data (upload_timeout) and may still hold the connection")
        for line in storage.cut_short():
            _fail(result, line, outcomes[storage.label])
        storage.closed = True  # the stuck writer reports nothing when it ends
    else:
        leg.upload.abort(leg.error)
        storage.uploading.discard(remote)
    _upload_failed(storage, target, remote, leg.error, outcome, result, outcomes)


def _drop(item: Archive | StreamedArchive) -> None:
    """An archive that will not be stored: its file deleted, or its stream closed and its program waited for."""
    if isinstance(item, Archive):
        if not item.keep:  # an external script's own file outside the work folder is not corral's to delete
            item.path.unlink(missing_ok=True)
        return
    item.reader.close()
    with suppress(CorralError):
        item.finish()


def _spool(item: StreamedArchive, work_dir: Path) -> Archive:
    """``spool: yes`` on the job: the stream becomes a file in the work folder, stored as sources' files are."""
    spool = SpoolFile(work_dir, f"{item.target}.{item.extension}")
    try:
        size = fan_out(item.reader, [Leg("spool", spool)], STALL)
        warnings = item.finish()
    except BaseException:
        spool.abort(None)
        raise
    try:
        spool.commit(size)  # a short file (a full disk) raises, removed: never stored as if whole
    except OSError as exc:
        full = full_disk_note(work_dir)  # before the short file goes
        spool.abort(None)
        raise DumpError(f"the temp file (spool: yes) could not be written: {exc}{full}") from None
    assert spool.path is not None
    return Archive(path=spool.path, target=item.target, extension=item.extension, subdir=item.subdir,
                   made=item.made, warnings=warnings)


def _check_extension(archive: Archive | StreamedArchive, job: JobConfig, result: JobResult) -> None:
    extensions = source_extensions(job)
    if extensions is not None and archive.extension not in extensions:
        _fail(result, f"target {archive.target}: the `{job.type}` plugin made a `.{archive.extension}` archive, an "
              "extension it does not declare (SourceSchema.extensions): rotation will never delete it")


def _warn(target: str, warnings: tuple[str, ...], result: JobResult) -> None:
    for warning in warnings:
        result.warnings.append(f"target {target}: {warning}")
        log.warning("target %s: %s", target, warning)


def _skip_out(storage: Storage, target: str, outcome: ArchiveOutcome, result: JobResult,
              outcomes: dict[str, StorageOutcome]) -> bool:  # fmt: skip
    """A storage that is out for the job gets no more archives: said at once, without waiting for it."""
    if storage.out:
        outcome.failed[storage.label] = "skipped"
        _fail(result, f"storage {storage.label}: target {target}: not uploaded: the storage is out for this job "
              f"({storage.out})", outcomes[storage.label])
    return bool(storage.out)


def _upload_failed(storage: Storage, target: str, remote: str, exc: BaseException, outcome: ArchiveOutcome,
                   result: JobResult, outcomes: dict[str, StorageOutcome]) -> None:  # fmt: skip
    cause = explain(exc)
    if posixpath.dirname(remote) not in cause:  # say where it was going (a full disk, say)
        cause += f" (writing `{remote}`)"
    outcome.failed[storage.label] = cause
    _fail(result, f"storage {storage.label}: target {target}: upload failed: {cause}", outcomes[storage.label])
    if _unreachable(exc):
        storage.take_out("it did not answer an upload")


def _stored(storage: Storage, job: JobConfig, run: RunContext, events: pluggy.PluginManager, target: str,
            remote: str, size: int, seconds: float, outcome: ArchiveOutcome,
            outcomes: dict[str, StorageOutcome], how: str = "") -> None:  # fmt: skip
    outcome.stored[storage.label] = remote
    outcomes[storage.label].stored.append(StoredFile(target, remote, size, seconds))
    log.info("storage %s: stored `%s%s` (%s, %.1f s%s)", storage.label, storage.location, remote, human_size(size),
             seconds, how)
    broadcast(events, "corral_archive_stored", run=run, job=job, storage=storage.label, remote_path=remote,
              size=size, seconds=seconds)


def _outcome_of(archive: Archive, digest: Digest) -> ArchiveOutcome:
    """What the report and the manifests say of an archive before it is stored."""
    return ArchiveOutcome(target=archive.target, size=digest.size, sha256=digest.sha256,
                          extension=archive.extension, facts=dict(archive.facts))


def _write_manifests(
    job: JobConfig,
    run: RunContext,
    storages: list[Storage],
    work_dir: Path,
    result: JobResult,
    outcomes: dict[str, StorageOutcome],
) -> None:
    """Once the job's archives are stored, bring each storage's manifests in step with them (docs/verify.md)."""
    for storage in storages:
        if not storage.out:
            for problem in sync_manifests(storage, job, result.archives, work_dir, run.mask):
                _fail(result, problem, outcomes[storage.label])


def _discard(archive: Archive, outcome: ArchiveOutcome, result: JobResult) -> None:
    """Delete the local archive once stored; a file that is not corral's to lose and that no storage received
    (external's) stays where it is, and the job's error says where."""
    if archive.keep and not outcome.stored:
        _fail(result, f"target {archive.target}: no storage received the archive; it is kept at `{archive.path}`")
        return
    if archive.keep:
        log.info("target %s: `%s` stays where it is: corral deletes only files in its work folder", archive.target,
                 archive.path)
        return
    archive.path.unlink(missing_ok=True)
