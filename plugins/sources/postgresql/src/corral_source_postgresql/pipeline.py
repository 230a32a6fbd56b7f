"""Run a dump program with its output streamed through a compressor to the core, which sends it to every storage.

The bytes go from the dump program to the compressor through a pipe and from the compressor to the core; they
never touch local disk. Both programs are started with ``run.popen`` so SIGTERM stops them, and both exit codes
are checked once the stream was read: a dump that dies half way leaves a compressor that exits cleanly on a
truncated stream, so the dump's own code decides, and the core then stores nothing.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from corral import RunContext
from corral_source_postgresql.codecs import Codec
from corral_source_postgresql.connection import first_error


@dataclass(frozen=True)
class Outcome:
    """``error`` is None when the archive is complete; ``warnings`` are the dump program's warning lines."""

    error: str | None
    warnings: tuple[str, ...] = ()


@dataclass
class DumpStream:
    """A running ``dump | compressor``: read ``reader`` to EOF, then :meth:`finish`."""

    run: RunContext
    reader: BinaryIO
    steps: list[tuple[subprocess.Popen[Any], str, IO[bytes]]]  # the compressor (if any) first, then the dump
    outcome: Outcome | None = field(default=None)

    def finish(self) -> Outcome:
        """Wait for both programs; the compressor's failure is the cause when both failed. Idempotent."""
        if self.outcome is None:
            self.reader.close()  # read to the end, or given up (the programs then see EPIPE)
            errors = [_finish(self.run, process, name, stderr) for process, name, stderr in self.steps]
            dump_err = self.steps[-1][2]
            dump_err.seek(0)
            warnings = tuple(" ".join(line.split()) for line in dump_err.read().decode(errors="replace").splitlines()
                             if "warning:" in line)
            for _process, _name, stderr in self.steps:
                stderr.close()
            self.outcome = Outcome(next((error for error in errors if error), None), warnings)
        return self.outcome


def open_dump(run: RunContext, command: list[str], env: dict[str, str], chosen: Codec,
              work_dir: Path) -> DumpStream | str:  # fmt: skip
    """Start ``command | compressor``; its error output goes to small temp files in ``work_dir``. Returns the
    stream, or why it could not start."""
    dump_err = tempfile.TemporaryFile(dir=work_dir)  # noqa: SIM115 (closed by finish)
    dump = _start(run, command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=dump_err, env=env)
    if isinstance(dump, str):
        dump_err.close()
        return dump
    assert dump.stdout is not None
    if not chosen.argv:
        return DumpStream(run, cast(BinaryIO, dump.stdout), [(dump, command[0], dump_err)])
    pack_err = tempfile.TemporaryFile(dir=work_dir)  # noqa: SIM115 (closed by finish)
    try:
        pack = _start(run, list(chosen.argv), stdin=dump.stdout, stdout=subprocess.PIPE, stderr=pack_err)
    finally:
        dump.stdout.close()  # only the compressor holds the read end: the dump gets SIGPIPE if it dies
    if isinstance(pack, str):
        dump.kill()
        _finish(run, dump, command[0], dump_err)
        dump_err.close()
        pack_err.close()
        return pack
    assert pack.stdout is not None
    return DumpStream(run, cast(BinaryIO, pack.stdout), [(pack, chosen.argv[0], pack_err), (dump, command[0],
                                                                                            dump_err)])


def _start(run: RunContext, command: list[str], **kwargs: Any) -> subprocess.Popen[Any] | str:
    """The started process, or why it could not start."""
    try:
        return run.popen(command, **kwargs)
    except OSError as exc:
        return f"cannot start `{command[0]}`: {exc.strerror}"


def _finish(run: RunContext, process: subprocess.Popen[Any], name: str, stderr: IO[bytes]) -> str | None:
    try:
        code = process.wait()
    finally:
        run.forget(process)
    if code == 0:
        return None
    stderr.seek(0)
    return first_error(stderr.read(), f"{name} exited with code {code}")
