"""One run at a time: an exclusive ``flock`` on a lock file that records the holder's pid, start and run id.

The kernel drops the lock when its holder dies, so a lock file left by a killed run is simply taken over
(and the takeover is logged). The file is corral's own: opened without following symlinks, refused when it
belongs to another user, has other hard links, or holds something that is not a corral lock record, so that
the lock can never empty a file someone pointed it at.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from datetime import datetime
from pathlib import Path
from types import TracebackType

from corral.config.models import MainCore
from corral.errors import AlreadyRunning
from corral.workarea import UnsafePath, open_own_file

log = logging.getLogger("corral")
_RECORD_START = b"pid "


def run_lock(main: MainCore) -> RunLock:
    """The lock every command that must not overlap a run takes (start, drill, verify): ``lock_file``, else
    ``corral.lock`` in the private work area; waiting ``lock_wait`` minutes for a holder."""
    from corral import children, workarea

    work_area = workarea.private_dir(Path(main.general_path_to_all_tmp_dir), "work folder")
    return RunLock(main.lock_file or work_area / "corral.lock", children.new_run_id(), wait=main.lock_wait * 60)


class RunLock:
    """Hold the run lock; ``previous`` is what the lock file said when a dead run's lock was taken over."""

    def __init__(self, path: Path, run_id: str = "", wait: float = 0) -> None:
        self.path = path
        self.run_id = run_id
        self.wait = wait  # seconds to wait for a run that holds the lock
        self.previous: dict[str, str] = {}
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        fd = open_own_file(self.path, os.O_RDWR, "lock file")
        try:
            self._take(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def _take(self, fd: int) -> None:
        deadline = time.monotonic() + self.wait
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _describe(_read(fd)) or "unknown holder"
                left = deadline - time.monotonic()
                if left <= 0:
                    waited = f"; waited {self.wait / 60:g} minute(s) (lock_wait)" if self.wait else ""
                    raise AlreadyRunning(f"another corral run is in progress ({holder}, lock `{self.path}`)"
                                         f"{waited}; this one exits") from None
                if not said:
                    said = True
                    log.info("another corral run is in progress (%s): waiting up to %g minute(s) (lock_wait)",
                             holder, self.wait / 60)
                time.sleep(min(1.0, left))
        previous = _read(fd)
        if previous and not previous.startswith(_RECORD_START):
            raise UnsafePath(f"lock file `{self.path}` holds something else than a corral lock record; "
                             "corral leaves it alone (remove it or set `lock_file` to another path)")
        if previous:
            self.previous = _parse(previous)
            log.info("taking over the lock `%s` left by a run that ended without releasing it (%s)",
                     self.path, _describe(previous))
        record = f"pid {os.getpid()}\nstarted {datetime.now().isoformat(timespec='seconds')}\n"
        if self.run_id:
            record += f"run {self.run_id}\nsession {os.getsid(0)}\n"  # see corral.children.kill_leftovers
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, record.encode(), 0)
        except OSError as exc:  # its disk is full: the flock alone guards the run
            log.warning("cannot write the lock record in `%s`: %s; the run goes on (were it to crash, the next "
                        "run could not end what it left running)", self.path, exc.strerror or exc)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _read(fd: int) -> bytes:
    return os.pread(fd, 4096, 0)


def _parse(record: bytes) -> dict[str, str]:
    fields = {}
    for line in record.decode(errors="replace").splitlines():
        key, _, value = line.partition(" ")
        fields[key] = value.strip()
    return fields


def _describe(record: bytes) -> str:
    """``pid 123, started 2026-12-02T03:00:00`` from a lock record."""
    fields = _parse(record)
    parts = [f"pid {fields['pid']}"] if "pid" in fields else []
    if "started" in fields:
        parts.append(f"started {fields['started']}")
    return ", ".join(parts)
