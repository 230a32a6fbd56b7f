"""Compressors the dumps stream through (the core's :class:`corral.Codec`), and how pg_basebackup's parts are
compressed in place."""

from __future__ import annotations

from dataclasses import dataclass

import corral


@dataclass(frozen=True)
class Codec(corral.Codec):
    in_place: tuple[str, ...] = ()  # compresses the file named after it into FILE+suffix and removes FILE


def codec(name: str) -> Codec:
    chosen = corral.Codec.named(name)
    in_place = {"zstd": ("zstd", "-T0", "-3", "-q", "--rm"), "gzip": chosen.argv[:1]}.get(chosen.name, ())
    return Codec(chosen.name, chosen.suffix, chosen.argv, in_place)
