"""One byte stream to several storages at once, with bounded memory.

The reader (a pipe from tar) is read in chunks; each storage's upload gets them through a queue of its own,
written by a thread of its own, so a slow storage slows the stream (its queue fills, the reader waits) while a
storage whose write fails drops out and the others go on. A storage that takes no chunk for ``stall`` seconds is
given up: the stream goes on without it. Memory: at most ``DEPTH`` chunks per storage.
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import io
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 1 << 20
DEPTH = 4


class Upload(Protocol):
    """An upload in progress to one storage (see the ``corral_storage_open_upload`` hook)."""

    def write(self, data: bytes) -> None: ...

    def commit(self, size: int) -> None:
        """Make the upload visible under its final name once ``size`` bytes arrived; raise if they did not."""

    def abort(self, error: BaseException | None) -> None:
        """Give the upload up: nothing appears under the final name (``error``: why, to decide the cleanup)."""


class Leg:
    """One storage's share of the stream: a queue and the thread that writes it."""

    def __init__(self, name: str, upload: Upload) -> None:
        self.name = name
        self.upload = upload
        self.error: BaseException | None = None
        self.stalled = False  # its writer thread may still be blocked in a write: never wait for it
        self._chunks: queue.Queue[bytes | None] = queue.Queue(DEPTH)
        context = contextvars.copy_context()  # the job's name for the log lines the upload writes
        self._thread = threading.Thread(target=context.run, args=(self._write_all,), daemon=True,
                                        name=f"corral-stream-{name}")
        self._thread.start()

    @property
    def ok(self) -> bool:
        return self.error is None

    def _write_all(self) -> None:
        while True:
            data = self._chunks.get()
            if data is None:
                return
            if self.error is None:  # after a failure, chunks are taken and dropped: the reader never waits
                try:
                    self.upload.write(data)
                except BaseException as exc:
                    self.error = exc

    def send(self, data: bytes | None, stall: float) -> None:
        if self.stalled:
            return
        try:
            self._chunks.put(data, timeout=stall)
        except queue.Full:
            self.stalled = True
            if self.error is None:
                self.error = TimeoutError(f"the storage took no data for {stall:g} s (upload_timeout)")

    def abandon(self) -> None:
        """Stop the writer without waiting for it (it finishes the chunk it is writing, if it can)."""
        self.error = self.error or RuntimeError("the stream was abandoned")
        try:
            self._chunks.put_nowait(None)
        except queue.Full:
            self.stalled = True

    def end(self, stall: float) -> None:
        """Let the writer finish what is queued; a stalled one is left behind."""
        self.send(None, stall)
        if not self.stalled:
            self._thread.join(stall)
            if self._thread.is_alive():
                self.stalled = True
                self.error = self.error or TimeoutError(f"the storage took no data for {stall:g} s (upload_timeout)")


class _Feed:
    """A consumer of the stream that is not an upload (a checksum), run on a leg's thread like the storages."""

    def __init__(self, feed: Callable[[bytes], None]) -> None:
        self.write = feed

    def commit(self, size: int) -> None:
        """Nothing to make visible."""

    def abort(self, error: BaseException | None) -> None:
        """Nothing to undo."""


def _widen(reader: BinaryIO) -> None:
    """Let a pipe hold a whole chunk, so the program writing it goes on while a chunk is handed out."""
    with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
        fcntl.fcntl(reader.fileno(), fcntl.F_SETPIPE_SZ, CHUNK)


def fan_out(reader: BinaryIO, legs: Iterable[Leg], stall: float, feed: Callable[[bytes], None] | None = None) -> int:
    """Copy ``reader`` to every leg until EOF; returns the bytes read. ``feed`` sees every chunk, in order, on a
    thread of its own (a checksum: hashing beside the reads, not between them)."""
    legs = list(legs)
    fed = [Leg("checksum", _Feed(feed))] if feed is not None else []
    size = 0
    _widen(reader)
    try:
        while data := reader.read(CHUNK):
            size += len(data)
            for leg in (*fed, *legs):
                if leg.ok:
                    leg.send(data, stall)
    except BaseException:  # the dump failed or the run was interrupted: the writers are not waited for
        for leg in (*fed, *legs):
            leg.abandon()
        raise
    for leg in (*fed, *legs):
        leg.end(stall)
    for leg in fed:
        if leg.error is not None:
            raise leg.error
    return size


def commit_all(legs: Iterable[Leg], size: int) -> None:
    """Commit every leg still going, at once (their last parts and syncs overlap); a failure becomes its error."""

    def commit(leg: Leg) -> None:
        try:
            leg.upload.commit(size)
        except BaseException as exc:
            leg.error = exc

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(commit, leg), daemon=True,
                                name=f"corral-commit-{leg.name}") for leg in legs if leg.ok]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


STALL = 900.0  # seconds a storage may take no data before it is given up, when `upload_timeout` is not set


class SpoolFile:
    """An :class:`Upload` into a new private file of the work folder, for storages that take files only."""

    def __init__(self, folder: Path, name: str) -> None:
        fd, path = tempfile.mkstemp(prefix=".spool-", suffix=f"-{name}"[-80:], dir=folder)
        self.path: Path | None = Path(path)
        self.file = os.fdopen(fd, "wb")
        self.error: BaseException | None = None

    def write(self, data: bytes) -> None:
        try:
            self.file.write(data)
        except BaseException as exc:
            self.error = exc
            raise

    def commit(self, size: int) -> None:
        """Close the file; raise OSError (its message: why) unless all ``size`` bytes are in it (then ``abort``)."""
        try:
            self.file.close()
        except OSError as exc:  # a full disk shows at the last flush
            self.error = self.error or exc
        written = self.path.stat().st_size if self.path is not None and self.error is None else -1
        if self.error is not None or written != size:
            cause = self.error or OSError(f"{written} of {size} bytes written")
            reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause)
            raise OSError(reason)

    def abort(self, error: BaseException | None) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None
