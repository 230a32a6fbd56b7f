"""Reading and atomically replacing the textfile, one writer at a time.

node_exporter may read the file at any moment: the new content goes to a temporary file in the same folder
(named so that the collector, which reads ``*.prom``, ignores it), readable by others, synced, then renamed
over the old one. An flock on a sibling ``.lock`` file keeps two corral runs (different configs) from
losing each other's series between read and rename.

The folder may belong to node_exporter's user: the lock and the textfile are opened without following a link and
without blocking, and used only when they are regular files, so that nothing planted there makes root create or
read another file (``corral.prom -> /etc/shadow`` put root's password hash in the log and the notifications) or
stalls the run (a FIFO).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _open_regular(path: Path, flags: int, mode: int = 0o644) -> int:
    """``path`` opened with ``flags``, never through a link, never blocking on a FIFO, only if it is our own
    regular file with no other hard link (a hard link to /etc/shadow would be read into the log)."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY, mode)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO):
            raise OSError(exc.errno, f"`{path.name}` there is a link or a FIFO; remove it") from None
        raise
    found = os.fstat(fd)
    if not stat.S_ISREG(found.st_mode) or found.st_nlink != 1 or found.st_uid != os.geteuid():
        os.close(fd)
        raise OSError(errno.EINVAL, f"`{path.name}` there is not our own regular file with one link; remove it")
    os.set_blocking(fd, True)
    return fd


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    lock_path = path.with_name(path.name + ".lock")
    with open(_open_regular(lock_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read(path: Path) -> str:
    try:
        fd = _open_regular(path, os.O_RDONLY)
    except FileNotFoundError:
        return ""
    with open(fd, encoding="utf-8") as text:
        return text.read()


def replace(path: Path, text: str) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o644)  # mkstemp makes 0600; node_exporter runs as another user
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
