"""A tar archive written front to back into a stream (through one compressor program, to the core and every
storage), with members whose size is known only at the end: the archive never touches local disk.

A tar header carries the member's size, so a member streamed from a database cursor cannot have its header
written before its data, and a stream cannot be rewound to fix it. Members up to ``spill`` bytes (4 MiB) are
buffered in memory and written normally. A larger one (a big collection's ``.bson``) is first written to a temp
file in the work folder, compressed with ``zstd -1`` when zstd is installed, while its size is counted; then its
header and its data go out. So tmp_dir holds at most one collection at a time, compressed, never the archive.
Headers use the GNU format (base-256 sizes past 8 GiB).
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, BinaryIO

from corral import DumpError, Exit, RunContext, compressed
from corral_source_mongodb.compression import Codec

BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
SPILL = 4 << 20
COPY = 1 << 20
SPILL_CODEC = ("zstd", "-1", "-T0", "-q", "-c")


class ArchiveError(OSError):
    """The archive could not be written (the compressor failed, the disk is full...)."""


def _padding(size: int, unit: int = BLOCK) -> bytes:
    return b"\0" * (-size % unit)


class TarStream:
    """Write a tar archive to ``sink``; :meth:`close` writes its end. Large members spill to ``work_dir``."""

    def __init__(self, sink: IO[bytes], work_dir: Path, run: RunContext, *, spill: int = SPILL) -> None:
        self.sink = sink
        self.work_dir = work_dir
        self.run = run
        self.spill = spill
        self.mtime = int(time.time())
        self._offset = 0  # bytes of tar stream written so far (before compression)

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
        return self._add_large(name, _chain(buffered, iterator))

    def _add_large(self, name: str, chunks: Iterable[bytes]) -> int:
        with tempfile.TemporaryFile(dir=self.work_dir) as spooled:
            size = _spool(self.run, chunks, spooled)
            self._write(self._header(name, size))
            copied = _unspool(self.run, spooled, self._write)
            if copied != size:
                raise ArchiveError(f"the spilled member `{name}` came back with {copied} bytes, not {size}")
        self._write(_padding(size))
        return size

    def close(self) -> None:
        """End the archive: two zero blocks, padded to a full record like GNU tar."""
        end = self._offset + 2 * BLOCK
        self._write(b"\0" * (2 * BLOCK) + _padding(end, RECORD))

    def _header(self, name: str, size: int, kind: bytes = tarfile.REGTYPE, mode: int = 0o644) -> bytes:
        info = tarfile.TarInfo(name)
        info.size = size
        info.type = kind
        info.mode = mode
        info.mtime = self.mtime
        return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")

    def _write(self, data: bytes) -> None:
        if data:
            self._offset += len(data)
            self.sink.write(data)


def _chain(buffered: list[bytes], rest: Iterable[bytes]) -> Iterable[bytes]:
    yield from buffered
    buffered.clear()
    yield from rest


def _spool(run: RunContext, chunks: Iterable[bytes], spooled: IO[bytes]) -> int:
    """Write ``chunks`` to ``spooled`` (through ``zstd -1`` when installed); returns the bytes written before."""
    size = 0
    program = shutil.which(SPILL_CODEC[0])
    if program is None:
        for chunk in chunks:
            spooled.write(chunk)
            size += len(chunk)
        spooled.flush()
        return size
    packer = run.popen([program, *SPILL_CODEC[1:]], stdin=subprocess.PIPE, stdout=spooled,
                       stderr=subprocess.DEVNULL)
    assert packer.stdin is not None
    try:
        for chunk in chunks:
            packer.stdin.write(chunk)
            size += len(chunk)
        packer.stdin.close()
        code = packer.wait()
    except BrokenPipeError:
        code = packer.wait()
    finally:
        if packer.poll() is None:
            packer.kill()
            packer.wait()
        run.forget(packer)
    if code != 0:
        raise ArchiveError(f"cannot spill a large collection to the work folder: zstd exited with code {code}")
    return size


def _unspool(run: RunContext, spooled: IO[bytes], write: Callable[[bytes], None]) -> int:
    spooled.seek(0)
    copied = 0
    program = shutil.which(SPILL_CODEC[0])
    if program is None:
        while data := spooled.read(COPY):
            write(data)
            copied += len(data)
        return copied
    unpacker = run.popen([program, "-dcq"], stdin=spooled, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert unpacker.stdout is not None
    try:
        while data := unpacker.stdout.read(COPY):
            write(data)
            copied += len(data)
        code = unpacker.wait()
    finally:
        if unpacker.poll() is None:
            unpacker.kill()
            unpacker.wait()
        unpacker.stdout.close()
        run.forget(unpacker)
    if code != 0:
        raise ArchiveError(f"cannot read a spilled collection back: zstd exited with code {code}")
    return copied


class ArchiveStream:
    """A tar archive that ``produce(tar)`` writes in a thread, through ``codec``'s program (:func:`corral.compressed`);
    :attr:`reader` is the compressed archive for the core. :meth:`finish` (once the core read it) raises when it is
    not whole."""

    def __init__(self, codec: Codec, run: RunContext, work_dir: Path, produce: Callable[[TarStream], None], *,
                 spill: int = SPILL) -> None:
        self.codec, self.run, self.spill = codec, run, spill

        def write(sink: BinaryIO) -> None:
            tar = TarStream(sink, work_dir, run, spill=spill)
            produce(tar)
            tar.close()

        try:
            self.pipe = compressed(run, write, codec.argv, work_dir, describe=_codec_failed)
        except DumpError as exc:
            raise ArchiveError(str(exc)) from None
        self.reader = self.pipe.reader

    def finish(self) -> None:
        ended = self.pipe.wait()
        raised = ended.raised
        if ended.compressor is not None and ended.compressor.failed and (
                raised is None or isinstance(raised, (BrokenPipeError, ArchiveError))):
            raise ArchiveError(ended.error)
        if isinstance(raised, BrokenPipeError):
            raise ArchiveError(f"`{self.codec.program}` stopped reading its input" if self.codec.program
                               else "the archive's stream was closed before its end")
        if raised is not None:
            raise raised


def _codec_failed(end: Exit) -> str:
    lines = [line for line in end.stderr if line.strip()]
    return f"`{end.program}` failed: {lines[-1].strip() if lines else end.code}"
