"""Compressors as external programs reading stdin and writing stdout: the archive streams through one of them."""

from __future__ import annotations

from dataclasses import dataclass

import corral


@dataclass(frozen=True)
class Codec:
    """How an archive is compressed: the file extension and the program that compresses stdin to stdout."""

    name: str
    extension: str
    argv: tuple[str, ...]  # empty: no compression

    @property
    def program(self) -> str | None:
        return self.argv[0] if self.argv else None


def codec(name: str) -> Codec:
    """``zstd`` (multi-threaded, fastest), ``gzip`` (pigz when installed) or ``none``: the core's codecs."""
    chosen = corral.Codec.named(name)
    return Codec(chosen.name, f"tar{chosen.suffix}", chosen.argv)
