"""Running ``producer | compressor`` as a stream: the dump never exists on local disk, and the core reads it
straight to every storage, so neither tmp_dir nor corral's memory grows with the database's size."""

from __future__ import annotations

import contextlib
import fcntl
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from corral import DumpError, RunContext
from corral.archive import StreamedArchive

F_SETPIPE_SZ = 1031  # Linux: a 1 MiB pipe halves the context switches between dump tool and compressor
PIPE_SIZE = 1 << 20
_ERRORISH = re.compile(r"error|denied|fail|cannot|can't|couldn't|unknown|not found|refused|got", re.IGNORECASE)
# mariabackup's "[00] 2026-01-31 03:00:00 " and the server library's "2026-01-31  3:00:00 0 " line prefixes
_LOG_PREFIX = re.compile(r"^(\[\d+\]\s+)?\d{4}-\d\d-\d\d\s+\d?\d:\d\d:\d\d(\s+\d+)?\s+")


@dataclass(frozen=True)
class Codec:
    """A streaming compressor: ``argv`` reads stdin and writes stdout; None stores the stream as it is."""

    name: str
    suffix: str
    argv: tuple[str, ...] | None


def codec(name: str) -> Codec:
    """The compressor for ``none``, ``gzip`` (pigz when installed: parallel) or ``zstd`` (multi-threaded)."""
    argv: tuple[str, ...]
    if name == "zstd":
        suffix, argv = ".zst", ("zstd", "-T0", "-3", "-q", "-c")
    elif name == "gzip":
        suffix, argv = ".gz", ("pigz", "-c") if shutil.which("pigz") else ("gzip", "-c")
    else:
        return Codec("none", "", None)
    program = shutil.which(argv[0])
    if program is None:
        raise DumpError(f"`{name}` compression needs the `{name}` program (apt install {name})")
    return Codec(name, suffix, (program, *argv[1:]))


@dataclass(frozen=True)
class StreamResult:
    """How the pipeline ended: ``error`` is one line (empty when both programs succeeded)."""

    error: str
    stderr: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.error


def error_line(lines: tuple[str, ...] | list[str], fallback: str) -> str:
    """The line of a program's error output that says what went wrong (the last error-like line)."""
    meaningful = [_LOG_PREFIX.sub("", line.strip()) for line in lines if line.strip()]
    for line in reversed(meaningful):
        if _ERRORISH.search(line):
            return line
    return meaningful[-1] if meaningful else fallback


def _lines(handle: IO[bytes], limit: int = 1 << 20) -> tuple[str, ...]:
    """The program's stderr (its last MiB at most: mariabackup logs a line per file)."""
    size = handle.seek(0, 2)
    handle.seek(max(0, size - limit))
    return tuple(handle.read().decode("utf-8", "replace").splitlines())


def widen(pipe: Any) -> None:
    with contextlib.suppress(OSError):  # not Linux, or over /proc/sys/fs/pipe-max-size: the default pipe works
        fcntl.fcntl(pipe.fileno(), F_SETPIPE_SZ, PIPE_SIZE)


def _name(argv: list[str] | tuple[str, ...]) -> str:
    return Path(argv[0]).name


def start(run: RunContext, producer: list[str], chosen: Codec, work_dir: Path) -> Pipeline:
    """Start ``producer | compressor``: the pipeline's output is the returned stream, read by the core straight to
    every storage (nothing on local disk but the programs' error output, in ``work_dir``)."""
    errors: list[IO[bytes]] = [tempfile.TemporaryFile(dir=work_dir)]  # noqa: SIM115 (closed by Pipeline.wait)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        dump = run.popen(producer, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors[0])
        processes.append(dump)
        assert dump.stdout is not None
        widen(dump.stdout)
        reader = dump.stdout
        if chosen.argv:
            errors.append(tempfile.TemporaryFile(dir=work_dir))  # noqa: SIM115
            pack = run.popen(list(chosen.argv), stdin=dump.stdout, stdout=subprocess.PIPE, stderr=errors[1])
            processes.append(pack)
            dump.stdout.close()  # the compressor holds the read end now; the dump sees EPIPE if it dies
            assert pack.stdout is not None
            widen(pack.stdout)
            reader = pack.stdout
    except BaseException:
        _stop(run, processes)
        for handle in errors:
            handle.close()
        raise
    return Pipeline(run, producer, chosen, cast(BinaryIO, reader), processes, errors)


def _stop(run: RunContext, processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
        run.forget(process)


@dataclass
class Pipeline:
    """A running ``producer | compressor`` whose output is ``reader``; :meth:`wait` once it was read to the end."""

    run: RunContext
    producer: list[str]
    chosen: Codec
    reader: BinaryIO
    processes: list[subprocess.Popen[bytes]]
    errors: list[IO[bytes]]
    result: StreamResult | None = None

    def wait(self) -> StreamResult:
        """Wait for both programs and check both exit codes: ``error`` names the one that failed (the
        compressor first: a dump that dies makes the compressor end early but cleanly) and its message.

        Called again (the core drops an archive whose ``finish`` failed), it returns the same result."""
        if self.result is None:
            self.result = self._wait()
        return self.result

    def _wait(self) -> StreamResult:
        self.reader.close()  # read to the end by the core, or given up (then the programs see EPIPE)
        try:
            codes = [process.wait() for process in reversed(self.processes)]  # compressor first
        finally:
            _stop(self.run, self.processes)
        lines = [_lines(handle) for handle in self.errors]
        for handle in self.errors:
            handle.close()
        dump_code, dump_lines = codes[-1], lines[0]
        error = ""
        if len(codes) == 2 and codes[0] != 0:
            assert self.chosen.argv is not None
            error = f"{_name(self.chosen.argv)} exited with code {codes[0]}: " + error_line(lines[1],
                                                                                             "no error output")
        elif dump_code != 0:
            error = f"{_name(self.producer)} exited with code {dump_code}: " + error_line(dump_lines,
                                                                                          "no error output")
        return StreamResult(error=error, stderr=dump_lines)


def hand_over(pipeline: Pipeline, finish: Callable[[], tuple[str, ...]], target: str, extension: str,
              facts: dict[str, Any] | None = None) -> Iterator[StreamedArchive]:  # fmt: skip
    """Yield the pipeline as the archive (``facts`` for its manifest entry); ``finish`` wraps :meth:`Pipeline.wait`.
    When the core never took the stream (the run was stopped before), the programs are ended here."""
    try:
        yield StreamedArchive(reader=pipeline.reader, finish=finish, target=target, extension=extension,
                              facts=facts or {})
    finally:
        if not pipeline.reader.closed:
            with contextlib.suppress(DumpError):
                finish()
