"""One run at a time: an exclusive ``flock`` on a lock file that records the holder's pid and start time.

The kernel drops the lock when its holder dies, so a lock file left by a killed run is simply taken over
(and the takeover is logged).
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from types import TracebackType

from corral.errors import AlreadyRunning, CorralError

log = logging.getLogger("corral")


class RunLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise CorralError(f"cannot create the lock file `{self.path}`: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunning(
                f"another corral run is in progress ({holder}, lock `{self.path}`); this one exits"
            ) from None
        previous = os.pread(fd, 200, 0).decode(errors="replace").strip()
        if previous:
            log.info("taking over the lock `%s` left by a run that ended without releasing it (%s)",
                     self.path, previous)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
