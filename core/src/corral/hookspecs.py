"""The hook contract between corral's core and its plugins.

Three kinds of plugins register through entry points; the entry-point name is the name used in YAML:

- ``corral.sources``: one plugin object per job ``type`` (``desc_files``, ``mysql``...). It implements the
  *source* hooks. The core loads it by name (stevedore) only when a job of that type exists.
- ``corral.storages``: one plugin object per ``storage`` name (``local``, ``s3``...). It implements the
  *storage* hooks; ``put``, ``list``, ``delete`` and ``get`` have fsspec-based defaults in the core
  (``corral.storage_defaults``), so most storages implement only the schema and filesystem hooks.
- ``corral.notifiers``: every installed notifier is loaded at ``start`` and hears the *lifecycle* hooks.

Rules that keep plugins working across versions (pluggy's opt-in arguments): hooks only grow, the core always
calls them with keyword arguments, and an implementation may accept fewer arguments than the spec lists.
``firstresult`` hooks stop at the first non-None result.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import pluggy

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem
    from pydantic import BaseModel

    from corral.archive import DumpResult, RemoteFile
    from corral.config.models import JobConfig, SourceSchema, StorageConfig
    from corral.discovery.inventory import Inventory
    from corral.doctoring import Check
    from corral.drill import DrillResult
    from corral.drilling import DrillReport, DrillRequest
    from corral.fanout import Upload
    from corral.restoring import RestoreRequest
    from corral.run import JobResult, RunContext, RunResult
    from corral.runner import Storage
    from corral.verify import VerifyResult

PROJECT = "corral"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# ---------------------------------------------------------------------------------------------- sources


@hookspec(firstresult=True)
def corral_source_schema() -> SourceSchema:
    """Declare the keys a job of this type accepts; called when the config is validated.

    Returns a :class:`corral.config.models.SourceSchema`: a pydantic model (subclass of ``JobOptions``) for the
    job-level keys such as external's ``dump_cmd``, and one (subclass of ``SourceOptions``) for each item of
    ``sources``, either of which may be None. Unknown keys, wrong types and missing keys become one-line errors
    naming the file, line, job and key. Fields typed ``SecretStr`` are never echoed in errors or logs.
    """


@hookspec(firstresult=True)
def corral_source_dump(
    job: JobConfig, source: BaseModel | None, tmp_dir: Path, run: RunContext, storages: list[Storage]
) -> Iterator[DumpResult]:
    """Dump one item of the job's ``sources`` (``source`` is None for types without sources) into ``tmp_dir``.

    Returns an iterator that yields, per archive, a :class:`~corral.archive.StreamedArchive` (its bytes as a
    stream while it is made: the core sends them to every storage at once, nothing on local disk) or an
    :class:`~corral.archive.Archive` (a finished file in ``tmp_dir``: the core stores it everywhere and deletes
    it before asking for the next, so temp space holds one archive at a time), or a
    :class:`~corral.archive.DumpFailure` for a target that failed while the others go on. Raise
    :class:`corral.DumpError` when the whole source fails. Start external programs through ``run.popen`` so that
    they get the configured priority and are stopped on SIGTERM.

    ``storages`` are the job's opened storages (``list``, ``get``, ``put``, ``delete``, ``root``), for sources
    that keep state beside their archives, such as incremental chains; most sources ignore them.
    """


@hookspec(firstresult=True)
def corral_source_restore(
    job: JobConfig, storage: Storage, target: str, date: datetime, dest: Path | None, run: RunContext,
    request: RestoreRequest,
) -> list[str] | None:
    """``corral restore``: bring ``target`` back from the newest archive made at or before ``date``.

    ``date`` is the time in the name of the archive the core chose (``request.archive``: by ``--date``,
    ``--archive`` or the newest). With ``--to`` (``dest`` and ``request.to``) restore into that folder: it exists
    and is empty unless ``request.force``. Without it (``dest`` None) restore into a server: ``request.into``
    (None: the job's own source server) as ``request.as_name``; never over a non-empty database unless
    ``request.force``. Read the archive with ``storage.open_read(path)`` and feed it to the standard client with
    :func:`corral.restoring.load` (no temp copy). Report each step with ``request.say``; with
    ``request.dry_run`` say what would be done and change nothing. Returns the stored paths it applied (or
    would apply), oldest first; None to let the core fetch the archive into ``dest`` (a folder restore only).
    """


@hookspec(firstresult=True)
def corral_source_drill(job: JobConfig, storage: Storage, target: str, run: RunContext, request: DrillRequest
                        ) -> DrillReport | None:
    """``corral drill``: restore ``request.archive`` into a scratch place corral owns (``request.scratch``, or a
    throwaway server started there from the local binaries, or ``request.server``), compare it with
    ``request.facts`` (estimates within ``request.tolerance``), run ``request.checks``, and say what came back.
    Start programs with ``run.popen``; leave nothing outside ``request.scratch``. None: this type has no drill."""


@hookspec(firstresult=True)
def corral_source_doctor(job: JobConfig, source: BaseModel | None, tmp_dir: Path, run: RunContext
                         ) -> list[Check] | None:  # fmt: skip
    """``corral doctor``: what one item of the job's ``sources`` needs before its first run, checked on this
    system without changing anything: the programs and their versions (:func:`corral.doctoring.program`,
    :func:`corral.doctoring.codec`), the server reached and its version, the targets found. Returns one
    :class:`corral.doctoring.Check` per fact (the core puts the job in front of each): a connection that fails is
    a ``FAIL`` naming the server, never its password. ``tmp_dir``: a private folder for option files, removed
    after. None: this type has no doctor (the core says so as a warning)."""


@hookspec(firstresult=True)
def corral_source_target_for(job: JobConfig, given: str) -> str | None:
    """The archive target a user means by ``given`` when it is not a target name (a file job's source path or
    glob match: ``/var/www/shop/upload`` for ``upload``), or None."""


@hookspec(firstresult=True)
def corral_source_inventory(job: JobConfig, source: BaseModel | None, tmp_dir: Path, run: RunContext
                            ) -> Inventory | None:  # fmt: skip
    """Coverage (``corral check --coverage``, every ``corral start``): what the server of one item of the job's
    ``sources`` holds. Returns a :class:`corral.discovery.inventory.Inventory`: the server (engine, host, port,
    socket, a name for messages), every database on it but the system ones, and those this source dumps by the
    type's own rules (``all`` minus ``excludes``, named targets). A server that cannot be listed is an
    ``Inventory`` with ``error`` (one line, no password), not an exception. ``tmp_dir``: a private folder for
    option files, removed after. None: this type has no notion of databases on a server (files, external).
    """


# --------------------------------------------------------------------------------------------- storages


@hookspec(firstresult=True)
def corral_storage_schema() -> type[BaseModel]:
    """Declare the connection keys of this storage: a subclass of ``corral.StorageOptions``.

    The core adds ``storage``, ``enable``, ``backup_dir`` and ``store`` itself.
    """


@hookspec(firstresult=True)
def corral_storage_filesystem(config: StorageConfig) -> AbstractFileSystem:
    """Open the fsspec filesystem for one configured storage (called once per job and storage)."""


@hookspec(firstresult=True)
def corral_storage_put(
    fs: AbstractFileSystem, local_path: Path, remote_path: str, file_mode: int, dir_mode: int
) -> bool:
    """Store ``local_path`` at ``remote_path`` all or nothing; returns True.

    Whatever happens, nothing may appear under ``remote_path`` unless the whole file arrived: the default
    uploads beside the target under a hidden temporary name and renames it; S3-like stores complete a multipart
    upload only at the end. ``file_mode`` and ``dir_mode`` (the storage's keys, 0600/0700 by default) are the
    permissions of the stored file and of the folders the put creates, where the storage has permissions;
    existing folders keep theirs. An implementation may leave both arguments out.
    """


@hookspec(firstresult=True)
def corral_storage_open_upload(
    fs: AbstractFileSystem, remote_path: str, file_mode: int, dir_mode: int
) -> Upload | None:
    """Begin storing a stream at ``remote_path``: returns an :class:`corral.fanout.Upload` (``write`` chunks,
    then ``commit(size)`` or ``abort(error)``), or None when this storage cannot take a stream (the core then
    writes the archive to a temp file once and calls ``corral_storage_put``).

    The same all-or-nothing rule as ``put``: nothing under ``remote_path`` before ``commit``. The default opens a
    hidden temp name with fsspec's ``open(..., "wb")`` and renames it at commit, on filesystems that say
    ``streams = True``; S3-like stores complete a multipart upload at commit and abort it otherwise.
    """


@hookspec(firstresult=True)
def corral_storage_list(fs: AbstractFileSystem, root: str) -> list[RemoteFile]:
    """List every file below ``root`` in one listing (empty when ``root`` does not exist)."""


@hookspec(firstresult=True)
def corral_storage_delete(fs: AbstractFileSystem, path: str) -> bool:
    """Delete one stored file; returns True."""


@hookspec(firstresult=True)
def corral_storage_open_read(fs: AbstractFileSystem, remote_path: str) -> BinaryIO:
    """A stored file as a stream of its bytes (restore reads an archive without a local copy); the core's
    default is fsspec's ``fs.open(remote_path, "rb")``."""


@hookspec(firstresult=True)
def corral_storage_doctor(storage: Storage, run: RunContext) -> list[Check] | None:
    """``corral doctor``: what this storage needs beyond the core's probe (connect, list, a small put read back
    and deleted, which it passed: ``storage.listed`` holds the job's files), such as the free space of a local
    backup disk. One :class:`corral.doctoring.Check` per fact (the core names job and storage); None: nothing."""


@hookspec(firstresult=True)
def corral_storage_get(fs: AbstractFileSystem, remote_path: str, local_path: Path) -> bool:
    """Fetch one stored file to ``local_path`` (for restore); returns True."""


# ---------------------------------------------------------------------------------- configuration


@hookspec
def corral_main_schema() -> type[BaseModel]:
    """Contribute keys to the ``main:`` section (notifiers: ``smtp_server``...): a pydantic model whose fields
    are merged into the core's. Every implementation is called; field names must not clash."""


# ------------------------------------------------------------------------------------------ lifecycle


@hookspec
def corral_run_started(run: RunContext) -> None:
    """A ``corral start`` took the lock and is about to run its jobs."""


@hookspec
def corral_job_started(run: RunContext, job: JobConfig) -> None:
    """A job starts: rotation, then dumps and uploads follow."""


@hookspec
def corral_rotation_done(run: RunContext, job: JobConfig, storage: str, deleted: list[str]) -> None:
    """Retention ran on one storage of a job; ``deleted`` lists the removed paths."""


@hookspec
def corral_archive_stored(
    run: RunContext, job: JobConfig, storage: str, remote_path: str, size: int, seconds: float
) -> None:
    """One archive is complete on one storage."""


@hookspec
def corral_job_finished(run: RunContext, job: JobConfig, result: JobResult) -> None:
    """A job ended; ``result`` says what succeeded and what failed, per target and storage."""


@hookspec
def corral_run_finished(run: RunContext, result: RunResult) -> None:
    """Every job ran; notifiers send their messages here. ``result.log`` holds the run's log records.

    A notifier that raises is logged and never changes the run's outcome.
    """


@hookspec
def corral_drill_finished(run: RunContext, result: DrillResult) -> None:
    """``corral drill`` restored and checked the newest backups it was asked to; ``result`` says, per job and
    target, whether they came back as recorded (masked, like a run's result). A failed drill is an error for the
    admins. Not part of ``corral start``."""


@hookspec
def corral_verify_finished(run: RunContext, result: VerifyResult) -> None:
    """``corral verify`` re-read the stored archives it was asked to; ``result`` says, per job and storage, which
    matched their manifest and which did not (masked, like a run's result). Not part of ``corral start``."""


# ------------------------------------------------------------------------------------------- warnings


@hookspec
def corral_config_warnings(main: BaseModel, storage: StorageConfig | None) -> list[str]:
    """Settings that work but are unsafe, such as a password sent in clear: one short line each, no secret.

    Called when the config is validated: on every notifier with ``storage`` None (look at ``main``), and on a
    storage plugin once per enabled storage entry of that kind (``storage``). The core prefixes each line with
    the file, line and job, prints it from ``corral check`` and logs it at the start of every run.
    """
