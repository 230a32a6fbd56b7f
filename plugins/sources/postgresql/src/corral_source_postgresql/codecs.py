"""Compressors the dumps stream through: each reads stdin and writes stdout, so no plain copy touches disk."""

from __future__ import annotations

import shutil
from dataclasses import dataclass


@dataclass(frozen=True)
class Codec:
    name: str
    suffix: str  # added to the archive's extension: ".zst", ".gz" or ""
    argv: tuple[str, ...]  # the compressor, stdin to stdout; empty for none
    in_place: tuple[str, ...]  # compresses the file named after it into FILE+suffix and removes FILE

    @property
    def program(self) -> str | None:
        return self.argv[0] if self.argv else None


def codec(name: str) -> Codec:
    if name == "zstd":
        return Codec("zstd", ".zst", ("zstd", "-T0", "-3", "-q", "-c"), ("zstd", "-T0", "-3", "-q", "--rm"))
    if name == "gzip":
        program = "pigz" if shutil.which("pigz") else "gzip"
        return Codec("gzip", ".gz", (program, "-c"), (program,))
    return Codec("none", "", (), ())
