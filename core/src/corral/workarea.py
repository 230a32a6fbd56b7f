"""corral's private work area: folders only the running user controls, and files nobody can redirect.

corral runs as root from cron, and its default work area (``/var/tmp/corral``) sits in a folder every user can
write. As OpenSSH's ``StrictModes`` does for ``~/.ssh``, every folder on the way to a work folder, lock or log
must be owned by root or the running user and writable by nobody else (a sticky folder such as ``/var/tmp``
excepted), and the work folder itself must belong to the running user; anything else is refused with one line.
Files are opened without following symlinks and only when they are the running user's own regular files.

Each job dumps into a fresh work folder with an unpredictable name (``.corral-work-PID-XXXXXXXX``); the run that
takes the lock next removes the folders of runs that died.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from corral.errors import EXIT_USAGE, CorralError

log = logging.getLogger("corral")

WORK_PREFIX = ".corral-work-"
_WORK_NAME = re.compile(rf"^{re.escape(WORK_PREFIX)}(?P<pid>\d+)-[a-z0-9_]{{8}}$")
_OLD_WORK_NAME = re.compile(r"^\.corral-\d{14}$")  # corral 0.1 named work folders by the run's start


class UnsafePath(CorralError):
    """A work folder, lock or log that another user could control."""

    exit_code = EXIT_USAGE


def _trusted_owner(uid: int) -> bool:
    return uid in (0, os.geteuid())


def _check_entry(path: Path, part: Path, info: os.stat_result, what: str, own: bool, shared: bool = False,
                 hint: str = "", owner: int | None = None) -> None:
    """One step of the way: owned by root or us (``own``: by us), writable by nobody else unless sticky.

    ``shared``: the folder of a file opened by :func:`open_own_file`, which only needs a trusted owner.
    ``hint``: that file's name, to offer putting it directly in a folder above that others can write.
    ``owner``: a user the admin named as this folder's owner (a root_squash NFS mount shows `nobody`).
    """
    subject = "it" if part == Path(os.path.abspath(path)) else f"`{part}`"
    owner_ok = info.st_uid == os.geteuid() if own and not stat.S_ISLNK(info.st_mode) else _trusted_owner(info.st_uid)
    if not owner_ok and info.st_uid != owner:
        raise UnsafePath(
            f"{what} `{path}` is not safe: {subject} belongs to uid {info.st_uid}, another user "
            f"(fix: `chown {os.geteuid()} {part}`, or choose a folder only root can write{_OWNER_HINT.get(what, '')})"
        )
    if stat.S_ISLNK(info.st_mode) or shared:
        return
    if info.st_mode & 0o022 and not (info.st_mode & stat.S_ISVTX and not own):
        # Ubuntu's /var/log is root:syslog 0775: `chmod go-w` would break rsyslog, the file can go directly in it
        fix = f"put the file directly in it, `{part / hint}`, or `chmod go-w {part}`" if hint else \
            f"`chmod go-w {part}`"
        raise UnsafePath(
            f"{what} `{path}` is not safe: {subject} is writable by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}; fix: {fix})"
        )


# a local storage on a root_squash NFS or a CIFS mount is owned by `nobody`: the admin names that owner
_OWNER_HINT = {"backup folder": "; on a root_squash NFS or CIFS mount, name its owner with the storage's `owner` key"}


def check_way(path: Path, what: str, own_last: bool = True, shared_last: bool = False, hint: str = "",
              last_owner: int | None = None) -> None:
    """Refuse ``path`` when another user could swap it or anything on the way to it.

    Both the path as written (symlinks included) and the path they lead to are checked. With ``own_last``
    the last folder must be the running user's own and writable by nobody else, even sticky. With ``shared_last``
    (the folder of a file :func:`open_own_file` opens) the last folder needs only a trusted owner: the file is
    opened without following a symlink and used only when it is our own single-link regular file, so whoever
    else can write that folder cannot redirect it (Ubuntu's /var/log is root:syslog 0775). ``hint``: the file's
    name, offered in the fix for a folder others can write. ``last_owner``: the last folder may also belong to
    this user (named by the admin).
    """
    literal = Path(os.path.abspath(path))
    real = Path(os.path.realpath(literal))
    for way in (literal, real) if real != literal else (literal,):
        parts = [way, *way.parents][::-1]
        for index, part in enumerate(parts):
            try:
                info = part.lstat()
            except (FileNotFoundError, NotADirectoryError):
                return  # the rest does not exist yet (or a file is in the way); whoever creates it next is us
            except OSError as exc:
                raise UnsafePath(f"{what} `{path}`: cannot check `{part}`: {exc.strerror}") from None
            last = index == len(parts) - 1
            _check_entry(path, part, info, what, own_last and last, shared=shared_last and last, hint=hint,
                         owner=last_owner if last else None)


def private_dir(path: Path, what: str, file_name: str = "") -> Path:
    """Create ``path`` (0700) if needed and make sure only the running user controls it.

    ``file_name``: the file it is made for (a log), named in the fix when a folder above is writable by others.
    """
    check_way(path, what, hint=file_name)  # the way to it, before anything is created on it
    try:
        make_folders(path, what)
    except OSError as exc:
        raise UnsafePath(f"cannot create the {what} `{path}`: {exc.strerror}") from None
    check_way(path, what)
    if not path.is_dir():
        raise UnsafePath(f"{what} `{path}` is not a folder")
    return path


def make_folders(path: Path, what: str) -> None:
    """Create the missing folders of ``path`` (0700) one at a time, never through a link, the way checked
    (:func:`check_way`) after each before anything is made below it; a failed mkdir raises its OSError."""
    missing = []
    part = Path(os.path.abspath(path))
    while not os.path.lexists(part) and part != part.parent:
        missing.append(part)
        part = part.parent
    for part in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile: the check says by whom
            os.mkdir(part, 0o700)
        check_way(path, what)


def open_own_file(path: Path, flags: int, what: str) -> int:
    """Open (creating 0600; an existing one loses group/other bits) a file that is the running user's own, never
    through a symlink, a hard link or a FIFO."""
    if not path.parent.exists():
        private_dir(path.parent, f"folder of the {what}", file_name=path.name)
    check_way(path.parent, f"folder of the {what}", own_last=False, shared_last=True, hint=path.name)
    try:  # O_NONBLOCK: a FIFO planted in the file's place must not block the open for ever
        fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK, 0o600)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO with no reader
            raise UnsafePath(f"{what} `{path}` is refused: it is not a regular file (remove it; corral creates "
                             "its own)") from None
        reason = "it is a symlink" if exc.errno == errno.ELOOP else exc.strerror
        raise UnsafePath(f"cannot open the {what} `{path}`: {reason}") from None
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = "it is not a regular file"
    elif info.st_uid != os.geteuid():
        problem = f"it belongs to uid {info.st_uid}, another user"
    elif info.st_nlink != 1:
        problem = "it has other hard links"
    if problem:
        os.close(fd)
        raise UnsafePath(f"{what} `{path}` is refused: {problem} (remove it; corral creates its own)")
    os.set_blocking(fd, True)
    # left readable by an older corral (0.1 made its log and lock 0644) or by hand: made private; a group the
    # admin gave it on purpose keeps its bits (logrotate's `create 0640 root adm`)
    private = 0o700 if info.st_gid in (0, os.getegid()) else 0o770
    if stat.S_IMODE(info.st_mode) & ~private:
        os.fchmod(fd, stat.S_IMODE(info.st_mode) & private)
    return fd


def preflight(main: Any, jobs: Iterable[Any]) -> list[str]:
    """What ``corral start`` would refuse about the work area, the lock, the log and each job's ``tmp_dir``, found
    without creating anything (``corral check``); one line each, naming the key."""
    problems: list[str] = []

    def way(key: str, path: Path, what: str, **options: Any) -> None:
        try:
            check_way(path, what, **options)
        except UnsafePath as exc:
            problems.append(f"{key}: {exc}")

    def folder(key: str, path: Path, what: str) -> None:
        if path.exists() and not path.is_dir():
            problems.append(f"{key}: {what} `{path}` is not a folder")
        else:
            way(key, path, what)

    area = Path(main.general_path_to_all_tmp_dir)
    folder("`general_path_to_all_tmp_dir`", area, "work folder")
    for key, what, path in (("`log_file_name`", "log file", main.log_file_name),
                            ("`lock_file`", "lock file", main.lock_file or area / "corral.lock")):
        if path is None:
            continue
        path = Path(path)
        if path.parent.exists():
            way(key, path.parent, f"folder of the {what}", own_last=False, shared_last=True, hint=path.name)
        else:
            way(key, path.parent, f"folder of the {what}", hint=path.name)
        if path.is_symlink() or (path.exists() and not path.is_file()):
            problems.append(f"{key}: {what} `{path}` is refused: it is not a regular file (remove it; corral "
                            "creates its own)")
    for job in jobs:
        folder(f"job `{job.name}`: `tmp_dir`", Path(job.tmp_dir), "work folder")
    return problems


def new_work_dir(job_tmp_dir: Path) -> Path:
    """A fresh 0700 folder for one job's dumps, under its checked ``tmp_dir``, with an unpredictable name."""
    private_dir(job_tmp_dir, "work folder")
    try:
        return Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-", dir=job_tmp_dir))
    except OSError as exc:  # a full disk (no block or inode left for a folder): this job cannot dump
        raise UnsafePath(f"cannot create a work folder in `{job_tmp_dir}`: {exc.strerror or exc}"
                         f"{full_disk_note(job_tmp_dir)}") from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead_work_dirs(tmp_dirs: Iterable[Path]) -> list[Path]:
    """Remove the work folders that runs which died left behind (only corral's own, by name and owner)."""
    removed = []
    for tmp_dir in sorted(set(tmp_dirs)):
        try:  # a tmp_dir another user controls is refused to its job; it is not scanned either
            check_way(tmp_dir, "work folder")
            entries = list(os.scandir(tmp_dir))
        except (UnsafePath, OSError):
            continue
        for entry in entries:
            match = _WORK_NAME.match(entry.name)
            if match:
                pid = int(match["pid"])
                if pid == os.getpid() or _alive(pid):
                    continue
                who = f"run pid {pid}"
            elif _OLD_WORK_NAME.match(entry.name):
                who = "a run of an older corral"
            else:
                continue
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
                continue
            size = _size(Path(entry.path))
            shutil.rmtree(entry.path, ignore_errors=True)
            log.info("removed `%s` (%d bytes), the work folder of %s that died", entry.path, size, who)
            removed.append(Path(entry.path))
    return removed


def _size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


FULL_DISK = 1024 * 1024  # bytes free under which a failed write is blamed on a full disk


def full_disk_note(folder: Path) -> str:
    """`` (`/var/tmp/corral/site` is full: 12 KiB free)`` when ``folder``'s filesystem is out of space, else ``""``.

    Tools report a full disk in their own words (tar: "Wrote only 2048 of 10240 bytes"); a failure message
    gets this note so that the admin reads the cause at once. Call it before deleting the partial file.
    """
    try:
        usage = shutil.disk_usage(folder)
    except OSError:
        return ""
    if usage.free >= FULL_DISK:
        return ""
    return f" (`{folder}` is full: {usage.free // 1024} KiB free)"
