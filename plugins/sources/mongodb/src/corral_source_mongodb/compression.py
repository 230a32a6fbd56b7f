"""Compressors as external programs, and the one hand-made frame each format needs: a stored (uncompressed) one.

gzip members and zstd frames can be concatenated: decompressing the concatenation gives the concatenation of the
contents (``gzip -d``, ``pigz -d``, ``zstd -d`` and GNU tar all read such files). That is what lets
:mod:`corral_source_mongodb.tarstream` write a tar header whose size is only known after the member's data went
through the compressor: the header goes out as a small stored frame, and is rewritten in place once the size is
known; a stored frame of the same payload length always has the same length.
"""

from __future__ import annotations

import shutil
import struct
import zlib
from dataclasses import dataclass

_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no flags, no mtime, unknown OS
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD_NO_CONTENT_SIZE = 0x00  # frame header descriptor: no size, not single segment, no checksum
_ZSTD_WINDOW_128K = 0x38  # window descriptor: 2**(10 + 7) bytes, enough for one raw block of the payload
MAX_STORED = 65535  # one deflate stored block; zstd raw blocks allow 128 KiB


@dataclass(frozen=True)
class Codec:
    """How an archive is compressed: the file extension and the program that compresses stdin to stdout."""

    name: str
    extension: str
    argv: tuple[str, ...]  # empty: no compression

    @property
    def program(self) -> str | None:
        return self.argv[0] if self.argv else None

    def stored_frame(self, payload: bytes) -> bytes:
        """``payload`` as a frame of this format that stores it uncompressed (at most :data:`MAX_STORED` bytes)."""
        if len(payload) > MAX_STORED:
            raise ValueError(f"a stored frame holds at most {MAX_STORED} bytes, not {len(payload)}")
        size = len(payload)
        if self.name == "gzip":
            block = b"\x01" + struct.pack("<HH", size, size ^ 0xFFFF)  # final block, type 0 (stored)
            return _GZIP_HEADER + block + payload + struct.pack("<II", zlib.crc32(payload), size)
        if self.name == "zstd":
            block = ((size << 3) | 1).to_bytes(3, "little")  # last block, type 0 (raw)
            return _ZSTD_MAGIC + bytes([_ZSTD_NO_CONTENT_SIZE, _ZSTD_WINDOW_128K]) + block + payload
        return payload


def codec(name: str) -> Codec:
    """``zstd`` (multi-threaded, fastest), ``gzip`` (pigz when installed) or ``none``."""
    if name == "zstd":
        return Codec("zstd", "tar.zst", ("zstd", "-q", "-c", "-T0", "-3"))
    if name == "gzip":
        return Codec("gzip", "tar.gz", ("pigz", "-c") if shutil.which("pigz") else ("gzip", "-c"))
    return Codec("none", "tar", ())
