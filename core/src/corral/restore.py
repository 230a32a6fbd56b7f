"""``corral restore``: bring a target back as it was at a moment, or from one named archive, from one storage.

The source plugin restores when it knows how (``desc_files`` and ``inc_files`` extract with tar, applying an
incremental chain in order); otherwise the newest archive made at or before the moment is fetched for the
standard tool. A destination that already holds files is refused unless forced: an extraction merges into it.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import logging
import os
import posixpath
import secrets
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any

from corral import clock, logs
from corral.archive import Backup, own_backup, shown
from corral.config import load_config
from corral.config.models import JobConfig, holds_password
from corral.debugging import explain
from corral.encryption import SUFFIX as AGE_SUFFIX
from corral.encryption import DecryptingStorage
from corral.errors import EXIT_USAGE, ConfigError, CorralError
from corral.masking import Masker
from corral.plugins import load_driver
from corral.proving import ProvingStorage, oldest_manifest
from corral.restoring import RestoreRequest
from corral.run import RunContext, human_size
from corral.runner import Storage, source_extensions
from corral.workarea import check_way, make_folders, new_work_dir

log = logging.getLogger("corral")


class RestoreRefused(CorralError):
    """The command line asks for something restore will not do (a folder with files, an unknown archive)."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Choice:
    """Which backup to restore: the newest made at or before ``until``, the one stored as ``archive``, or (neither)
    the newest."""

    until: datetime | None = None
    archive: str | None = None

    def __post_init__(self) -> None:
        if self.until is not None and self.archive is not None:
            raise ValueError("a restore needs at most one of a moment and an archive name (neither: the newest)")


def when(until: datetime) -> str:
    """``until`` as the user wrote it: a day stands for its end, a minute for its last second."""
    if until.time() == time.max:  # isoformat: strftime writes the year 1 as `1`
        return until.date().isoformat()
    if until.second == 59 and until.microsecond == time.max.microsecond:
        return until.isoformat(" ", "minutes")
    return until.isoformat(" ", "seconds")


def check_destination(dest: Path, force: bool) -> None:
    """Refuse a ``--to`` another user could control, and one that already holds entries unless ``force`` (tar
    merges into it, silently).

    corral restores as root: a folder a local user made (``/tmp/restore``, 0777) or a link they planted at that
    name would let them swap what tar writes, or send it elsewhere. As for the work area, the folder and every
    folder on the way must belong to root or the running user and be writable by nobody else (on the way, a
    sticky folder such as /tmp excepted); a link is refused, never followed."""
    try:
        info = os.lstat(dest)
    except (FileNotFoundError, NotADirectoryError):
        info = None  # created below (refused there if a file is on the way); its way is checked now
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise RestoreRefused(f"`{dest}` is refused: it is a symlink (to `{os.readlink(dest)}`), which restore "
                             "does not follow: give the folder itself")
    if info is not None and not stat.S_ISDIR(info.st_mode):
        raise CorralError(f"cannot restore into `{dest}`: it is not a folder")
    check_way(dest, "restore folder")
    if info is None:
        return
    try:
        with os.scandir(dest) as entries:
            count = sum(1 for _ in entries)
    except OSError as exc:
        raise CorralError(f"cannot read `{dest}`: {exc.strerror or exc}") from None
    if count and not force:
        raise RestoreRefused(
            f"`{dest}` is not empty ({count} {'entry' if count == 1 else 'entries'}): restoring merges into it; "
            "use --force to restore into it anyway"
        )


def make_destination(dest: Path) -> None:
    """Create a missing ``--to`` (0700), one folder at a time and never through a link, each checked as
    :func:`check_destination` checks the way."""
    try:
        make_folders(dest, "restore folder")
    except OSError as exc:
        raise CorralError(f"cannot restore into `{dest}`: {exc.strerror or exc}") from None
    info = os.lstat(dest)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise CorralError(f"cannot restore into `{dest}`: it is not a folder")


def _fetch(storage: Storage | DecryptingStorage, remote: str, into: Path, job: JobConfig) -> None:
    """Fetch a stored file to ``into`` without ever writing through a link there.

    With ``--force`` the folder may hold what a site user controls: a link under the archive's name (the date of a
    cron run) would have root write the dump over the file it points to. The file is fetched into a fresh private work
    folder and put in place by a rename, which replaces a link instead of following it.
    """
    work = new_work_dir(job.tmp_dir)
    try:
        fetched = work / into.name
        storage.get(remote, fetched)
        folder = os.open(into.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            try:
                os.rename(fetched, into.name, dst_dir_fd=folder)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                _copy_in(fetched, into.name, folder)
        finally:
            os.close(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _copy_in(source: Path, name: str, folder: int) -> None:
    """Another filesystem: copy into a new temp file of the folder (never an existing entry), then rename it."""
    temp = f".{name}.corral-{secrets.token_hex(4)}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=folder)
    try:
        with open(source, "rb") as reader, open(fd, "wb", closefd=False) as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
        os.rename(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=folder)
        raise
    finally:
        os.close(fd)


def _chosen(backups: list[Backup], choice: Choice) -> list[Backup]:
    """The backups made up to the chosen one (its own moment for a named archive), oldest first."""
    until = choice.until or datetime.max
    if choice.archive is not None:
        until = next(b.made for b in backups if posixpath.basename(b.path) == choice.archive)
    return [b for b in backups if b.made <= until]


def _unknown(name: str, target: str, seen: set[str]) -> RestoreRefused:
    """One line for a name no storage holds, with the stored names closest to it (a typo, a wrong second)."""
    nearest = difflib.get_close_matches(name, sorted(seen), n=3, cutoff=0.0)
    listed = f"nearest: {', '.join(nearest)}" if nearest else f"`{target}` has no archive stored"
    return RestoreRefused(f"no archive of `{target}` is named `{name}`; {listed} (see `corral list`)")


@dataclass(frozen=True)
class Restored:
    """What a restore did: the stored paths it applied, oldest first, and whether the data is back (False: the
    archive was only fetched for its standard tool)."""

    applied: list[str]
    restored: bool


def _request_aware(driver: Any) -> bool:
    """Whether the source's restore takes the request (restores into servers, honours --dry-run)."""
    impls = driver.hook.corral_source_restore.get_hookimpls()
    return bool(impls) and "request" in impls[-1].argnames


def _resolve_target(given: str, stored: list[Backup], job: JobConfig, driver: Any, storage: str) -> str:
    """The stored target ``given`` names: a target name, or what the source maps it to (a file job's path)."""
    targets = sorted({b.target for b in stored})
    if given in targets:
        return given
    mapped = driver.hook.corral_source_target_for(job=job, given=given)
    if mapped in targets:
        return str(mapped)
    if not targets:
        raise RestoreRefused(f"job `{job.name}` has no backup on storage {storage}")
    listed = ", ".join(targets[:20]) + (f" and {len(targets) - 20} more" if len(targets) > 20 else "")
    raise RestoreRefused(f"job `{job.name}` has no target {shown(given)} on storage {storage}; its targets: {listed}")


def _masking(say: Callable[[str], None], masked: Masker) -> Callable[[str], None]:
    """``say`` with secrets masked: a plugin's line may quote a client's words or a connection string."""
    return lambda line: say(masked(line))


def refuse_password(into: str) -> None:
    """Refuse ``--into USER:PASSWORD@HOST`` (or a URI's, or ``password=``) without repeating it: the password
    would reach the client's arguments (``ps``) and the lines corral prints."""
    if holds_password(into):
        raise RestoreRefused("--into holds a password, which would show in the process list and in what corral "
                             "prints: give [USER@]HOST[:PORT]; the password comes from the job for its own servers, "
                             "else from the client's own files (~/.my.cnf, ~/.pgpass, REDISCLI_AUTH...)")


def restore(
    config_path: Path, job_name: str, target: str, choice: Choice, dest: Path | None, storage_name: str | None,
    force: bool = False, identity: Path | None = None, into: str | None = None, as_name: str | None = None,
    dry_run: bool = False, options: dict[str, Any] | None = None, say: Callable[[str], None] = print,
    verify: bool = True,
) -> Restored:
    """Restore ``target`` of ``job_name`` as ``choice`` says: into the folder ``dest``, or (``dest`` None) into a
    server (``into``, default the job's own; as ``as_name``). ``say`` gets one line per step.

    ``identity``: an age secret key file; encrypted archives (``NAME.age``) are decrypted on the way (the source's
    restore sees them decrypted), else they are refused where a source extracts them, and fetched as they are.
    ``verify``: every archive read must match its manifest entry (:class:`~corral.proving.ProvingStorage`).
    """
    if into is not None:
        refuse_password(into)
    if as_name is not None and (not as_name.strip() or any(ord(c) < 32 or ord(c) == 127 for c in as_name)):
        # an unset shell variable (`--as "$NEW" --force`) would restore over the original database
        raise RestoreRefused(f"--as {shown(as_name)} names no database (empty, blank or a control character): give "
                             "the name to restore as, or leave --as out for the original name")
    config = load_config(config_path)
    logs.setup(None, config.secrets)  # a storage's warnings (a retried connection) reach stderr masked
    masked = Masker(config.secrets)
    say = _masking(say, masked)
    job = next((j for j in config.jobs if j.name == job_name), None)
    if job is None:
        names = ", ".join(j.name for j in config.jobs) or "none"
        raise ConfigError([f"{config_path}: no job named `{job_name}` (jobs: {names})"])
    candidates = [s for s in job.storages if s.enable and (storage_name is None or s.name == storage_name)]
    if not candidates:
        raise ConfigError([f"{config_path}: job `{job_name}` has no enabled storage `{storage_name}`"])
    driver = load_driver("source", job.type)
    aware = _request_aware(driver)
    if dest is None and not aware:
        raise RestoreRefused(f"job `{job_name}` (type `{job.type}`): corral fetches its archives into a folder for "
                             "their standard tool; give --to DIR")
    if dest is not None:
        check_destination(dest, force)  # it only reads: a dry run refuses what the restore would
    run = RunContext(now=clock.now(), main=config.main, config_path=config_path)
    problems = []
    names_seen: set[str] = set()  # of the target's archives, for the nearest names to an unknown one
    lacking = 0  # storages listed without the named archive
    for storage_config in candidates:
        try:
            storage = Storage(storage_config, job)
            files = storage.list()
            every = sorted(b for b in (own_backup(f, storage.root, source_extensions(job)) for f in files)
                           if b is not None)
        except CorralError:
            raise
        except Exception as exc:
            problems.append(f"storage {storage_config.name}: {explain(exc)}")
            continue
        if not every and len(candidates) > 1:
            problems.append(f"storage {storage.name}: no backup of job `{job_name}`")
            continue
        name = _resolve_target(target, every, job, driver, storage.name)
        stored = [b for b in every if b.target == name]
        stored_names = {posixpath.basename(b.path) for b in stored}
        if choice.archive is not None and choice.archive not in stored_names:
            names_seen |= stored_names
            lacking += 1
            problems.append(f"storage {storage.name}: no archive `{choice.archive}`")
            continue
        found = _chosen(stored, choice)
        if not found:
            moment = when(choice.until) if choice.until else choice.archive
            problems.append(f"storage {storage.name}: no backup of `{name}` made on or before {moment}")
            continue
        newest = found[-1]
        if dest is not None and not dry_run:
            make_destination(dest)
        sealed = newest.path.endswith(f".{AGE_SUFFIX}")
        if sealed and identity is None and driver.hook.corral_source_restore.get_hookimpls():
            raise RestoreRefused(f"`{posixpath.basename(newest.path)}` is encrypted (`encrypt:`): give the age "
                                 "secret key with --identity FILE")
        proven: Any = storage
        if verify:
            proven = ProvingStorage(storage, job, {b.path: b.size for b in stored}, say,
                                    oldest_manifest(files, storage.root))
        if verify and not dry_run:
            proven.entry(newest.path)  # a size that differs from the manifest's: refused before anything changes
        view = DecryptingStorage(proven, identity) if identity is not None else proven
        request = RestoreRequest(archive=newest, to=dest, into=into, as_name=as_name, force=force,
                                 dry_run=dry_run, options=options or {}, say=say)
        if aware or not dry_run:  # a source that ignores the request would restore for real: not on a dry run
            try:
                applied = driver.hook.corral_source_restore(job=job, storage=view, target=name, date=newest.made,
                                                            dest=dest, run=run, request=request)
            except CorralError as exc:  # a plugin's line may quote a client's words, a connection string
                exc.args = (masked(str(exc)),)
                raise
        else:
            applied = None
        if applied is not None:
            if dry_run:
                sizes = {b.path: b.size for b in stored}
                for path in applied:
                    say(f"would apply `{path}` ({human_size(sizes.get(path, 0))}) from storage {storage.name}")
            return Restored(list(applied), restored=True)
        if dest is None:
            raise RestoreRefused(f"job `{job_name}` (type `{job.type}`): its archives are fetched into a folder; "
                                 "give --to DIR")
        plain = posixpath.basename(newest.path)
        if sealed and identity is not None:  # decrypted on the way: stored as its plain name
            plain = plain.removesuffix(f".{AGE_SUFFIX}")
        into_file = dest / plain
        if dry_run:
            say(f"would fetch `{newest.path}` ({human_size(newest.size)}) from storage {storage.name} into "
                f"`{into_file}`")
            return Restored([newest.path], restored=False)
        try:
            _fetch(view, newest.path, into_file, job)
        except OSError as exc:
            raise CorralError(f"storage {storage.name}: cannot fetch `{newest.path}` into `{into_file}`: "
                              f"{masked(exc.strerror or str(exc))}") from None
        say(f"fetched `{newest.path}` ({human_size(newest.size)}) from storage {storage.name} into `{into_file}`")
        return Restored([newest.path], restored=False)
    if choice.archive is not None and lacking == len(candidates):
        raise _unknown(choice.archive, target, names_seen)
    raise CorralError(masked("; ".join(problems)))
