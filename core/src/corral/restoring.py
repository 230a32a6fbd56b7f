"""What a source's restore gets from the core: the request, the chosen archive as a stream, and the pipeline that
decompresses it into the standard client (``zstd -dc | mariadb``) with no copy on local disk.

A source restores into a folder (``--to DIR``: files, a fetched dump, a data directory) or into a server
(``--into``, default the job's own source server; ``--as NAME``). It reports each step it takes through
``request.say`` (one honest line: "created database `shop_copy` on 127.0.0.1:3306", "loaded 12.3 MiB in
4.1 s"), and with ``request.dry_run`` it says what it would do and touches nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from corral.archive import Backup
from corral.errors import CorralError
from corral.pump import Pump
from corral.run import RunContext

CHUNK = 1 << 20
DECOMPRESSORS = {"zst": ["zstd", "-dc"], "gz": ["gzip", "-dc"]}


@dataclass(frozen=True)
class RestoreRequest:
    """``corral restore``'s command line as a source sees it.

    ``archive`` is the backup the core chose (``--date``, ``--archive``, or the newest); ``to`` the folder of a
    folder restore, or None for a restore into a server: ``into`` (None: the job's own source server, as its
    config connects to it) as database ``as_name`` (None: the original name). ``force`` allows overwriting what
    is there; ``options`` holds the type-specific flags (``with_globals``, ``jobs``). ``say`` prints one line.
    """

    archive: Backup
    to: Path | None = None
    into: str | None = None
    as_name: str | None = None
    force: bool = False
    dry_run: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    say: Callable[[str], None] = print


class RestoreError(CorralError):
    """A restore that cannot go on (a target database that is not empty, a client that failed): one line."""


def decompressor(extension: str) -> list[str] | None:
    """The standard tool that undoes the codec an archive's extension names (``sql.zst``), or None."""
    return DECOMPRESSORS.get(extension.removesuffix(".age").rsplit(".", 1)[-1])


class Unpacked:
    """A stored archive as a stream for :func:`load` that a source edits on the way: decompressed by the standard
    tool its extension names (fed by a thread), then passed through ``edit(data, final)`` (which returns what is
    ready and keeps a short tail until ``final``). ``finish()``, called by the pump at EOF, checks the decompressor
    and the stream it read (an encrypted archive's age verdict). Subclasses may say where the decompressor is
    (:meth:`program`), tune its pipe (:meth:`started`) and word its error (:meth:`error_line`)."""

    def __init__(self, run: RunContext, source: BinaryIO, extension: str, edit: Callable[[bytes, bool], bytes],
                 thread: str = "corral-restore-unpack") -> None:  # fmt: skip
        self.run, self.source, self.edit = run, source, edit
        unpack = decompressor(extension)
        self.process: subprocess.Popen[bytes] | None = None
        self.errors: IO[bytes] | None = None
        self.pump: Pump | None = None
        self.reader = source
        self.done = False
        self.name = unpack[0] if unpack else ""
        if unpack:
            program = self.program(unpack[0])
            self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close)
            self.process = run.popen([program, *unpack[1:]], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.errors)
            self.pump = Pump(source, cast(BinaryIO, self.process.stdin), thread)
            self.started(self.process)
            self.reader = cast(BinaryIO, self.process.stdout)

    def program(self, name: str) -> str:
        return _installed(name)

    def started(self, process: subprocess.Popen[bytes]) -> None:
        """Called once the decompressor runs (its stdout is read ``CHUNK`` bytes at a time)."""

    def error_line(self, said: list[str], code: int) -> str:
        return _line("\n".join(said)) if any(line.strip() for line in said) else f"exit code {code}"

    def read(self, size: int = -1) -> bytes:
        while not self.done:
            data = self.reader.read(CHUNK)
            self.done = not data
            out = self.edit(data, self.done)
            if out:
                return out
        return b""

    def finish(self) -> None:
        if self.process is None:
            finish = getattr(self.source, "finish", None)
            if callable(finish):
                finish()
            return
        assert self.pump is not None and self.errors is not None
        code = self.process.wait()
        self.pump.join()
        if self.pump.error is not None and not isinstance(self.pump.error, BrokenPipeError):
            raise RestoreError(str(self.pump.error))  # age's verdict first: it cut the decompressor's input
        if code != 0:
            self.errors.seek(0)
            said = self.errors.read().decode(errors="replace").splitlines()
            raise RestoreError(f"{self.name}: {self.error_line(said, code)}")

    def close(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            cast(BinaryIO, self.process.stdout).close()
            self.process.wait()
            self.run.forget(self.process)
            if self.pump is not None:
                self.pump.join(timeout=10)
        if self.errors is not None:
            self.errors.close()
        self.source.close()


def load(run: RunContext, source: BinaryIO, extension: str, client: list[str],
         env: dict[str, str] | None = None, failing: Callable[[str], bool] | None = None) -> str:
    """Run ``[decompressor |] client`` with the archive's bytes on its stdin, fed from ``source``; return what
    the client printed. Every program has ended when it returns; a failed one raises :class:`RestoreError` with
    its last words. No byte touches local disk. ``env``: the client's environment (a password goes there, never
    in its arguments). ``failing``: true for a line of the client's stderr that means it failed though it exited
    0 (``mbstream`` skips an entry named ``../x`` with a message and exit 0).
    """
    unpack = decompressor(extension)
    for program in ([unpack[0]] if unpack else []) + [client[0]]:
        _installed(program)
    first = run.popen(unpack, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE) \
        if unpack else None
    try:
        second = run.popen(client, stdin=first.stdout if first is not None else subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    except BaseException:
        _end(first)
        raise
    if first is not None and first.stdout is not None:
        first.stdout.close()  # the client holds it now: the decompressor sees a broken pipe if the client dies
    feeder = first if first is not None else second
    sink, feeder.stdin = feeder.stdin, None  # the pump writes and closes it: communicate() must not touch it
    assert sink is not None
    pump = Pump(source, cast(BinaryIO, sink), "corral-restore-feed")
    try:
        out, err = second.communicate()
        pump.join()
        unpack_err = first.communicate()[1] if first is not None else b""
    except BaseException:
        _end(first)
        _end(second)
        raise
    finally:
        for process in (first, second):
            if process is not None:
                run.forget(process)
    if pump.error is not None and not isinstance(pump.error, BrokenPipeError):
        raise RestoreError(f"reading the archive failed: {_line(str(pump.error))}")
    if unpack and first is not None and first.returncode != 0 and second.returncode == 0:
        raise RestoreError(f"{unpack[0]} failed: {_line(unpack_err.decode(errors='replace'))}")
    if second.returncode != 0:
        raise RestoreError(f"{client[0]} failed (exit {second.returncode}): {_line(err.decode(errors='replace'))}")
    said = [line for line in err.decode(errors="replace").splitlines() if failing is not None and failing(line)]
    if said:
        raise RestoreError(f"{client[0]} failed: {_line(said[0])}")
    return out.decode(errors="replace")


def _installed(program: str) -> str:
    if shutil.which(program) is None:
        raise RestoreError(f"restoring needs the `{program}` program, which is not installed")
    return program


def _end(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.kill()
        process.wait()


def _line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
