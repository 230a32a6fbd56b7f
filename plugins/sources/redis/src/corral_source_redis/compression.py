"""Compressors as external programs reading stdin: the RDB stream never lands on disk uncompressed."""

from __future__ import annotations

from dataclasses import dataclass

import corral


@dataclass(frozen=True)
class Codec:
    name: str
    extension: str
    argv: tuple[str, ...]  # empty: no compression

    @property
    def program(self) -> str | None:
        return self.argv[0] if self.argv else None


def codec(name: str) -> Codec:
    """``zstd`` (multi-threaded, fastest), ``gzip`` (pigz when installed) or ``none``: the core's codecs."""
    chosen = corral.Codec.named(name)
    return Codec(chosen.name, f"rdb{chosen.suffix}", chosen.argv)
