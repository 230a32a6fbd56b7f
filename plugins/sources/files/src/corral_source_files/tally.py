"""Counting what tar archives as it goes: its verbose index (``-vv --index-file``) read from a pipe by a thread.

One ``ls -l`` style line per member (``-rw-r--r-- root/root 1234 2026-01-31 03:00 site/a``): the first letter
is its type, the third field a regular file's size. No second walk of the tree, no file on disk.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from corral_source_files import tar


class Tally:
    """Regular files, their bytes, folders and symbolic links among the members tar listed."""

    def __init__(self) -> None:
        self.files = self.bytes = self.dirs = self.symlinks = 0
        self._read_end = self._write_end = -1
        self._thread: threading.Thread | None = None

    def open(self) -> int:
        """The pipe's write end, for tar (``--index-file=/dev/fd/N``)."""
        self._read_end, self._write_end = os.pipe()
        return self._write_end

    def started(self) -> None:
        """tar holds its copy of the write end (or did not start): read until it closes it."""
        os.close(self._write_end)
        self._thread = threading.Thread(target=self._read, daemon=True, name="corral-tar-index")
        self._thread.start()

    def close(self) -> None:
        """After tar exited: the last lines are counted."""
        if self._thread is not None:
            self._thread.join()

    def _read(self) -> None:
        with os.fdopen(self._read_end, "rb") as index:
            for line in index:
                self.count(line)

    def count(self, line: bytes) -> None:
        kind = line[:1]
        if kind == b"-":
            self.files += 1
            fields = line.split(None, 3)
            if len(fields) > 2 and fields[2].isdigit():
                self.bytes += int(fields[2])
        elif kind == b"h":  # a hard link to a file counted before
            self.files += 1
        elif kind == b"d":
            self.dirs += 1
        elif kind == b"l":
            self.symlinks += 1

    def facts(self) -> dict[str, Any]:
        """What the manifest records (docs/verify.md)."""
        return {"tool": f"GNU tar {tar.version()}", "files": self.files, "bytes": self.bytes, "dirs": self.dirs,
                "symlinks": self.symlinks}
