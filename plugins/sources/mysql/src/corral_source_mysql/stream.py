"""Running ``producer | compressor > file``: the dump never exists uncompressed on disk and never passes
through Python, so corral's memory stays flat whatever the database's size."""

from __future__ import annotations

import contextlib
import fcntl
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from corral import DumpError, RunContext

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


def _widen(pipe: Any) -> None:
    with contextlib.suppress(OSError):  # not Linux, or over /proc/sys/fs/pipe-max-size: the default pipe works
        fcntl.fcntl(pipe.fileno(), F_SETPIPE_SZ, PIPE_SIZE)


def _name(argv: list[str] | tuple[str, ...]) -> str:
    return Path(argv[0]).name


def run_to_file(run: RunContext, producer: list[str], chosen: Codec, out: Path) -> StreamResult:
    """Run ``producer`` and write its output, compressed with ``chosen``, to ``out``; check both exit codes.

    On failure ``out`` is removed and ``error`` names the program that failed first and its message.
    """
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryFile(dir=out.parent) as dump_err, tempfile.TemporaryFile(dir=out.parent) as pack_err:
        try:
            with open(out, "wb") as sink:
                dump = run.popen(producer, stdin=subprocess.DEVNULL, stderr=dump_err,
                                 stdout=subprocess.PIPE if chosen.argv else sink)
                processes.append(dump)
                pack = None
                if chosen.argv:
                    assert dump.stdout is not None
                    _widen(dump.stdout)
                    pack = run.popen(list(chosen.argv), stdin=dump.stdout, stdout=sink, stderr=pack_err)
                    processes.append(pack)
                    dump.stdout.close()  # the compressor holds the read end now; the dump sees EPIPE if it dies
                pack_code = pack.wait() if pack else 0
                dump_code = dump.wait()
        except BaseException:
            out.unlink(missing_ok=True)
            raise
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                run.forget(process)
        dump_lines, pack_lines = _lines(dump_err), _lines(pack_err)
    error = ""
    if pack_code != 0:
        assert chosen.argv is not None
        error = f"{_name(chosen.argv)} exited with code {pack_code}: " + error_line(pack_lines, "no error output")
    elif dump_code != 0:
        error = f"{_name(producer)} exited with code {dump_code}: " + error_line(dump_lines, "no error output")
    if error:
        out.unlink(missing_ok=True)
    return StreamResult(error=error, stderr=dump_lines)
