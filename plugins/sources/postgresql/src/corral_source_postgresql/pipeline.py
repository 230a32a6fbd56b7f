"""A dump program streamed through the compressor to the core (:func:`corral.compressed`), read as pg_dump's
tools report: the cause is their first ``error:`` line, the warnings are kept.

A dump that dies half way leaves a compressor that exits cleanly on a truncated stream, so the dump's own code
decides, and the core then stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from corral import DumpError, Ended, Exit, Pipe, RunContext, compressed
from corral_source_postgresql.codecs import Codec
from corral_source_postgresql.connection import first_error


@dataclass(frozen=True)
class Outcome:
    """``error`` is None when the archive is complete; ``warnings`` are the dump program's warning lines."""

    error: str | None
    warnings: tuple[str, ...] = ()


def outcome(ended: Ended) -> Outcome:
    said = ended.producer.stderr if ended.producer else ()
    warnings = tuple(" ".join(line.split()) for line in said if "warning:" in line)
    return Outcome(ended.error or None, warnings)


def cause(end: Exit) -> str:
    return first_error("\n".join(end.stderr).encode(), f"{end.program} exited with code {end.code}")


@dataclass
class DumpStream:
    """A running ``dump | compressor``: read ``reader`` to EOF, then :meth:`finish`."""

    pipe: Pipe
    outcome: Outcome | None = field(default=None)

    @property
    def reader(self) -> BinaryIO:
        return self.pipe.reader

    def finish(self) -> Outcome:
        """Wait for both programs; the compressor's failure is the cause when both failed. Idempotent."""
        if self.outcome is None:
            self.outcome = outcome(self.pipe.wait())
        return self.outcome


def open_dump(run: RunContext, command: list[str], env: dict[str, str], chosen: Codec,
              work_dir: Path) -> DumpStream | str:  # fmt: skip
    """Start ``command | compressor``; its error output goes to small temp files in ``work_dir``. Returns the
    stream, or why it could not start."""
    try:
        return DumpStream(compressed(run, command, chosen.argv, work_dir, env=env, describe=cause))
    except DumpError as exc:
        return str(exc)
