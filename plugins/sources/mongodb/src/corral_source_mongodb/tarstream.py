"""A tar archive written front to back through a compressor program, with members whose size is known only at
the end: nothing uncompressed touches the disk and memory stays bounded.

A tar header carries the member's size, so a member streamed from a database cursor cannot have its header
written before its data. Small members are buffered (up to ``spill`` bytes) and written normally. A larger one
gets a placeholder header in a stored frame (see :mod:`corral_source_mongodb.compression`), its data goes through
a new compressor process straight into the archive file, and the header frame is then rewritten in place with
the real size. Headers use the GNU format, whose length does not depend on the size (base-256 sizes past 8 GiB).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from corral import RunContext
from corral_source_mongodb.compression import Codec

BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
SPILL = 4 << 20


class ArchiveError(OSError):
    """The archive could not be written (the compressor failed, the disk is full...)."""


def _padding(size: int, unit: int = BLOCK) -> bytes:
    return b"\0" * (-size % unit)


class TarStream:
    """Write a tar archive to ``path`` through ``codec``; use as a context manager, :meth:`close` to finish.

    Leaving the block with an exception kills the compressor and deletes the partial archive.
    """

    def __init__(self, path: Path, codec: Codec, run: RunContext, *, spill: int = SPILL) -> None:
        self.path = path
        self.codec = codec
        self.run = run
        self.spill = spill
        self.mtime = int(time.time())
        self._file: IO[bytes] = open(path, "wb", buffering=0)  # noqa: SIM115 - closed in close()/abort()
        self._compressor: subprocess.Popen[bytes] | None = None
        self._errors: IO[bytes] | None = None
        self._offset = 0  # bytes of tar stream written so far (before compression)

    def __enter__(self) -> TarStream:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: Any) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    # ------------------------------------------------------------------------------------------- members

    def add_directory(self, name: str) -> None:
        self._write(self._header(name.rstrip("/") + "/", 0, tarfile.DIRTYPE, 0o755))

    def add_file(self, name: str, data: bytes) -> None:
        self._write(self._header(name, len(data)))
        self._write(data)
        self._write(_padding(len(data)))

    def add_stream(self, name: str, chunks: Iterable[bytes]) -> int:
        """Add a member whose bytes come from ``chunks``; returns its size."""
        iterator = iter(chunks)
        buffered: list[bytes] = []
        size = 0
        for chunk in iterator:
            buffered.append(chunk)
            size += len(chunk)
            if size > self.spill:
                break
        else:
            self.add_file(name, b"".join(buffered))
            return size
        return self._add_large(name, buffered, iterator)

    def _add_large(self, name: str, buffered: list[bytes], rest: Iterable[bytes]) -> int:
        placeholder = self._header(name, 0)
        self._end_frame()
        header_at = self._file.tell()
        self._file.write(self.codec.stored_frame(placeholder))
        self._offset += len(placeholder)
        size = 0
        for chunk in buffered:
            self._write(chunk)
            size += len(chunk)
        buffered.clear()
        for chunk in rest:
            self._write(chunk)
            size += len(chunk)
        self._end_frame()
        header = self._header(name, size)
        if len(header) != len(placeholder):  # cannot happen with the GNU format; never write a corrupt archive
            raise ArchiveError(f"tar header of `{name}` changed length ({len(placeholder)} -> {len(header)})")
        self._file.seek(header_at)
        self._file.write(self.codec.stored_frame(header))
        self._file.seek(0, os.SEEK_END)
        self._write(_padding(size))
        return size

    def close(self) -> None:
        """End the archive (two zero blocks, padded to a full record like GNU tar) and close the file."""
        end = self._offset + 2 * BLOCK
        self._write(b"\0" * (2 * BLOCK) + _padding(end, RECORD))
        self._end_frame()
        self._file.close()

    def abort(self) -> None:
        """Stop the compressor and delete the partial archive."""
        if self._compressor is not None:
            self._compressor.kill()
            self._compressor.wait()
            self.run.forget(self._compressor)
            self._compressor = None
        if self._errors is not None:
            self._errors.close()
            self._errors = None
        self._file.close()
        self.path.unlink(missing_ok=True)

    # ------------------------------------------------------------------------------------------ plumbing

    def _header(self, name: str, size: int, kind: bytes = tarfile.REGTYPE, mode: int = 0o644) -> bytes:
        info = tarfile.TarInfo(name)
        info.size = size
        info.type = kind
        info.mode = mode
        info.mtime = self.mtime
        return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")

    def _write(self, data: bytes) -> None:
        if not data:
            return
        self._offset += len(data)
        if not self.codec.argv:
            self._file.write(data)
            return
        if self._compressor is None:
            self._start_frame()
        assert self._compressor is not None and self._compressor.stdin is not None
        try:
            self._compressor.stdin.write(data)
        except BrokenPipeError:
            self._end_frame()  # raises with the compressor's own message
            raise ArchiveError(f"`{self.codec.program}` stopped reading its input") from None

    def _start_frame(self) -> None:
        """A compressor process that appends one frame to the archive file, sharing our file offset."""
        self._errors = tempfile.TemporaryFile(dir=self.path.parent)  # noqa: SIM115 - closed in _end_frame()
        try:
            self._compressor = self.run.popen(
                list(self.codec.argv), stdin=subprocess.PIPE, stdout=self._file, stderr=self._errors
            )
        except OSError as exc:
            raise ArchiveError(f"cannot start `{self.codec.program}`: {exc.strerror}") from None

    def _end_frame(self) -> None:
        compressor, errors = self._compressor, self._errors
        if compressor is None or errors is None:
            return
        self._compressor = self._errors = None
        try:
            if compressor.stdin is not None:
                with contextlib.suppress(BrokenPipeError):
                    compressor.stdin.close()
            code = compressor.wait()
        finally:
            self.run.forget(compressor)
        errors.seek(0)
        message = errors.read().decode(errors="replace").strip().splitlines()
        errors.close()
        if code != 0:
            detail = message[-1] if message else f"exit code {code}"
            raise ArchiveError(f"`{self.codec.program}` failed: {detail}")
