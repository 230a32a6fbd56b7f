"""The SHA-256 of an archive, computed in one place: whatever carries the bytes (a finished file today, a stream
later) feeds them to a :class:`Checksum` chunk by chunk."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


@dataclass(frozen=True)
class Digest:
    """What a manifest records of an archive: its size in bytes and its SHA-256 in hex."""

    size: int
    sha256: str


class Checksum:
    """Fed the archive's bytes in order (:meth:`update`), says their size and SHA-256 (:meth:`digest`)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._size = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self._size += len(chunk)

    def digest(self) -> Digest:
        return Digest(self._size, self._hash.hexdigest())


def read_digest(reader: BinaryIO) -> Digest:
    """The digest of everything ``reader`` still holds, read in bounded chunks."""
    checksum = Checksum()
    while chunk := reader.read(CHUNK):
        checksum.update(chunk)
    return checksum.digest()


def file_digest(path: Path) -> Digest:
    with open(path, "rb") as reader:
        return read_digest(reader)
