"""``producer | compressor`` as one streamed archive, without a shell: the bytes never touch the local disk.

The producer is a program (its argv: a dump tool, tar) or a Python function writing into a sink (run on a thread
of its own: a relay, a tar written member by member); the compressor is the job's codec (``zstd -T0 -3``, pigz
or gzip; none stores the stream as it is). Both programs start through ``run.popen``: SIGTERM and
``dump_timeout`` stop them and they die with corral. Their error output goes to small temp files in the work
folder; the compressor's stdout is the archive the core reads. Encryption, when the job asks for it, comes after
(:func:`corral.encryption.encrypted` wraps the archive this yields).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from corral.archive import StreamedArchive
from corral.errors import DumpError
from corral.run import RunContext

PIPE_SIZE = 1 << 20  # a 1 MiB pipe: fewer context switches between producer, compressor and the core
STDERR_KEPT = 1 << 20  # the last MiB of a program's error output is read (mariabackup logs a line per file)
Writer = Callable[[BinaryIO], None]


@dataclass(frozen=True)
class Codec:
    """A streaming compressor: ``argv`` reads stdin and writes stdout; empty stores the stream as it is."""

    name: str
    suffix: str  # what it adds to the archive's extension: ".zst", ".gz" or ""
    argv: tuple[str, ...]

    @property
    def program(self) -> str | None:
        return self.argv[0] if self.argv else None

    @classmethod
    def named(cls, name: str) -> Codec:
        """``zstd`` (multi-threaded), ``gzip`` (pigz when installed: parallel) or anything else: none."""
        if name == "zstd":
            return cls("zstd", ".zst", ("zstd", "-T0", "-3", "-q", "-c"))
        if name == "gzip":
            return cls("gzip", ".gz", ("pigz" if shutil.which("pigz") else "gzip", "-c"))
        return cls("none", "", ())


@dataclass(frozen=True)
class Exit:
    """How one program of the pipe ended; ``stopped``: killed because the archive's reader was given up."""

    program: str  # argv[0] as started
    code: int
    stderr: tuple[str, ...]  # its error output (the last MiB), line by line
    stopped: bool = False

    @property
    def failed(self) -> bool:
        return self.code != 0 and not self.stopped


def first_line(end: Exit) -> str:
    """``zstd exited with code 1: zstd: error 70 : Write error``: the program and its first line of error output."""
    said = next((line.strip() for line in end.stderr if line.strip()), "")
    return f"{Path(end.program).name} exited with code {end.code}" + (f": {said}" if said else "")


@dataclass(frozen=True)
class Ended:
    """How the pipe ended: ``error`` is the one-line cause, empty when the archive is whole.

    The compressor's failure is the cause when it failed (the producer then only saw a broken pipe), unless a
    Python producer raised something else; then the producer's (``describe`` of its exit, or what it raised).
    """

    producer: Exit | None  # None: a Python function wrote the stream
    compressor: Exit | None  # None: no compression
    raised: BaseException | None  # what the Python producer raised
    error: str

    @property
    def ok(self) -> bool:
        return not self.error


def whole(ended: Ended) -> tuple[str, ...]:
    """The default check of an ended pipe: :class:`DumpError` with its cause, else no warnings."""
    if ended.error:
        raise DumpError(ended.error)
    return ()


def _widen(stream: IO[bytes]) -> None:
    with contextlib.suppress(OSError, ValueError):  # not Linux, or over /proc/sys/fs/pipe-max-size: the default pipe
        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)


def _at_eof(reader: BinaryIO) -> bool:
    """Whether ``reader`` (a pipe) was read to its end; False when closed or when bytes or writers remain."""
    if reader.closed:
        return False
    fd = reader.fileno()
    with contextlib.suppress(OSError, ValueError):
        if select.select([fd], [], [], 0)[0]:
            return os.read(fd, 1) == b""
    return False


def _said(errors: IO[bytes]) -> tuple[str, ...]:
    size = errors.seek(0, os.SEEK_END)
    errors.seek(max(0, size - STDERR_KEPT))
    return tuple(errors.read().decode("utf-8", "replace").splitlines())


class Pipe:
    """A running ``producer | compressor`` whose output is :attr:`reader` (see :func:`compressed`)."""

    def __init__(self, run: RunContext, describe: Callable[[Exit], str]) -> None:
        self.run, self.describe = run, describe
        self.reader: BinaryIO = cast(BinaryIO, None)
        self.producer: subprocess.Popen[bytes] | None = None  # None: a Python function writes the stream
        self.compressor: subprocess.Popen[bytes] | None = None
        self._errors: dict[subprocess.Popen[bytes], IO[bytes]] = {}
        self._writer: threading.Thread | None = None
        self._raised: BaseException | None = None
        self._ended: Ended | None = None

    def _popen(self, argv: Sequence[str], work_dir: Path, **options: Any) -> subprocess.Popen[bytes]:
        errors = tempfile.TemporaryFile(dir=work_dir)  # noqa: SIM115 (closed by wait)
        try:
            process: subprocess.Popen[bytes] = self.run.popen(list(argv), stderr=errors, **options)
        except OSError as exc:
            errors.close()
            raise DumpError(f"cannot start `{argv[0]}`: {exc.strerror or exc}") from None
        self._errors[process] = errors
        return process

    def _start_program(self, argv: Sequence[str], compressor: Sequence[str], work_dir: Path,
                       options: dict[str, Any]) -> None:  # fmt: skip
        self.producer = self._popen(argv, work_dir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, **options)
        out = cast(IO[bytes], self.producer.stdout)
        _widen(out)
        if compressor:
            try:
                self.compressor = self._popen(compressor, work_dir, stdin=out, stdout=subprocess.PIPE)
            finally:
                out.close()  # the compressor holds the read end: the producer sees EPIPE if it dies
            out = cast(IO[bytes], self.compressor.stdout)
            _widen(out)
        self.reader = cast(BinaryIO, out)

    def _start_writer(self, write: Writer, compressor: Sequence[str], work_dir: Path) -> None:
        if compressor:
            self.compressor = self._popen(compressor, work_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            sink, out = cast(BinaryIO, self.compressor.stdin), cast(BinaryIO, self.compressor.stdout)
            _widen(out)
        else:
            read_end, write_end = os.pipe()
            sink, out = os.fdopen(write_end, "wb"), os.fdopen(read_end, "rb")
        self.reader = out
        self._writer = threading.Thread(target=self._write, args=(write, sink), daemon=True, name="corral-producer")
        self._writer.start()

    def _write(self, write: Writer, sink: BinaryIO) -> None:
        try:
            write(sink)
        except BaseException as exc:  # handed to wait()
            self._raised = exc
        finally:
            with contextlib.suppress(OSError):
                sink.close()  # the compressor ends, the core sees EOF

    def _processes(self) -> list[subprocess.Popen[bytes]]:
        return [process for process in (self.producer, self.compressor) if process is not None]

    def wait(self) -> Ended:
        """Once the core read :attr:`reader` to its end, or gave it up: wait for both programs (a reader given up
        first kills those still running, so a producer that is not writing cannot hang the run). Idempotent."""
        if self._ended is None:
            self._ended = self._end()
        return self._ended

    def _end(self) -> Ended:
        stopped: set[subprocess.Popen[bytes]] = set()
        if not _at_eof(self.reader):
            stopped = {process for process in self._processes() if process.poll() is None}
            for process in stopped:
                with contextlib.suppress(OSError):
                    os.killpg(process.pid, signal.SIGKILL)  # its own group (run.popen): its children too
        with contextlib.suppress(OSError):
            self.reader.close()
        if self._writer is not None:
            self._writer.join()
        exits: dict[subprocess.Popen[bytes], Exit] = {}
        try:
            for process in self._processes():
                code = process.wait()
                exits[process] = Exit(
                    str(cast(Sequence[str], process.args)[0]), code, _said(self._errors[process]), process in stopped
                )
        finally:
            self._abandon()
        producer = exits.get(self.producer) if self.producer is not None else None
        compressor = exits.get(self.compressor) if self.compressor is not None else None
        return Ended(producer, compressor, self._raised, self._cause(producer, compressor))

    def _cause(self, producer: Exit | None, compressor: Exit | None) -> str:
        raised = self._raised
        if compressor is not None and compressor.failed and (raised is None or isinstance(raised, BrokenPipeError)):
            return self.describe(compressor)
        if producer is not None and producer.failed:
            return self.describe(producer)
        if raised is not None:
            return " ".join(str(raised).split()) or type(raised).__name__
        if any(end is not None and end.stopped for end in (producer, compressor)):
            return "the archive's stream was given up before its end"
        return ""

    def _abandon(self) -> None:
        """Kill what still runs, forget it, close the error files."""
        for process in self._processes():
            if process.poll() is None:
                process.kill()
                process.wait()
            self.run.forget(process)
        for errors in self._errors.values():
            errors.close()

    def archive(self, target: str, extension: str, *, check: Callable[[Ended], tuple[str, ...]] = whole,
                facts: dict[str, Any] | None = None, subdir: str = "") -> Iterator[StreamedArchive]:  # fmt: skip
        """Yield the pipe as the archive. Its ``finish()`` is ``check(self.wait())``: the warnings, or
        :class:`DumpError` when the archive is not whole. A stream the core never took (the run was stopped) is
        ended here when the source's generator is closed."""
        checked = False

        def finish() -> tuple[str, ...]:
            nonlocal checked
            checked = True
            return check(self.wait())

        try:
            yield StreamedArchive(
                reader=self.reader,
                finish=finish,
                target=target,
                extension=extension,
                subdir=subdir,
                facts=facts if facts is not None else {},
            )
        finally:
            if not checked:
                with contextlib.suppress(Exception):
                    finish()


def compressed(run: RunContext, producer: Sequence[str] | Writer, compressor: Sequence[str], work_dir: Path, *,
               env: Mapping[str, str] | None = None, pass_fds: Sequence[int] = (),
               describe: Callable[[Exit], str] = first_line) -> Pipe:  # fmt: skip
    """Start ``producer | compressor`` (``compressor``: a :class:`Codec`'s argv; empty: none). ``producer`` is a
    program's argv (``env``, ``pass_fds`` for it; never a secret in argv) or a function that writes the stream
    into the sink it gets. ``describe`` turns a failed program's :class:`Exit` into the one-line cause.

    Returns the running :class:`Pipe`: ``yield from pipe.archive(target, extension)`` hands it to the core.
    Raises :class:`DumpError` when a program cannot start (nothing is left running then).
    """
    pipe = Pipe(run, describe)
    try:
        if callable(producer):
            pipe._start_writer(producer, compressor, work_dir)
        else:
            options: dict[str, Any] = {"pass_fds": tuple(pass_fds)}
            if env is not None:
                options["env"] = env
            pipe._start_program(producer, compressor, work_dir, options)
    except BaseException:
        with contextlib.suppress(OSError):
            if pipe.reader is not None:
                pipe.reader.close()
        pipe._abandon()
        raise
    return pipe
