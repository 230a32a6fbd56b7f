"""Compressors as external programs reading stdin: the RDB stream never lands on disk uncompressed."""

from __future__ import annotations

import shutil
from dataclasses import dataclass


@dataclass(frozen=True)
class Codec:
    name: str
    extension: str
    argv: tuple[str, ...]  # empty: no compression

    @property
    def program(self) -> str | None:
        return self.argv[0] if self.argv else None


def codec(name: str) -> Codec:
    """``zstd`` (multi-threaded, fastest), ``gzip`` (pigz when installed) or ``none``."""
    if name == "zstd":
        return Codec("zstd", "rdb.zst", ("zstd", "-q", "-c", "-T0", "-3"))
    if name == "gzip":
        return Codec("gzip", "rdb.gz", ("pigz", "-c") if shutil.which("pigz") else ("gzip", "-c"))
    return Codec("none", "rdb", ())
