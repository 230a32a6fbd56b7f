"""``redis-cli --rdb -``: the server's RDB snapshot over the replication protocol, relayed into the compressor,
whose output streams to every storage.

The password reaches redis-cli through ``REDISCLI_AUTH`` in its environment, never its arguments.

Why the bytes pass through Python instead of a plain pipe: when the server streams the snapshot diskless (the
default since Redis 7), the transfer ends with a 40-byte EOF mark. redis-cli removes it from a file with
``ftruncate``, which a pipe cannot do, so ``--rdb -`` leaves the mark at the end of its output (redis/redis#9135
skipped the truncation for stdout). The relay holds back the last 40 bytes and drops them when redis-cli's report
(``...until EOF marker`` / ``after N bytes``) says they are the mark, and checks the byte count either way.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, BinaryIO

from corral import Exit, RunContext, compressed
from corral_source_redis.compression import Codec
from corral_source_redis.options import RedisConnect

EOF_MARK = 40  # RDB_EOF_MARK_SIZE
CHUNK = 1 << 20
_DISKLESS = re.compile(r"until EOF marker")
_MARKED_SIZE = re.compile(r"Transfer finished with success after (\d+) bytes")
_SIZED = re.compile(r"SYNC sent to master, writing (\d+) bytes")


class SnapshotError(Exception):
    """The snapshot could not be taken or stored; the message is one line for the log."""


def redis_cli_command(connect: RedisConnect, *command: str) -> tuple[list[str], dict[str, str]]:
    """redis-cli's arguments and environment: address and user in argv, the password only in the environment;
    ``command`` (default ``--rdb -``) last."""
    argv = ["redis-cli"]
    argv += ["-s", str(connect.socket)] if connect.socket is not None else ["-h", connect.db_host or "", "-p",
                                                                           str(connect.db_port)]
    if connect.db_user:
        argv += ["--user", connect.db_user]
    argv += command or ("--rdb", "-")
    env = {key: value for key, value in os.environ.items() if key != "REDISCLI_AUTH"}
    if connect.db_password is not None:
        env["REDISCLI_AUTH"] = connect.db_password.get_secret_value()
    return argv, env


def payload_size(report: str) -> tuple[int, bool]:
    """(RDB size, whether an EOF mark follows it) from redis-cli's stderr report of a successful transfer."""
    marked = _MARKED_SIZE.search(report)
    if _DISKLESS.search(report) and marked:
        return int(marked.group(1)), True
    sized = _SIZED.search(report)
    if sized:
        return int(sized.group(1)), False
    raise SnapshotError("redis-cli did not report the size of the snapshot")


def cli_error(report: str, code: int) -> str:
    """The line of redis-cli's report that says what went wrong."""
    lines = [line.strip() for line in report.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("AUTH failed", "Could not connect", "Error")):
            return line
    return lines[-1] if lines else f"redis-cli exited with code {code}"


class SnapshotStream:
    """The server's snapshot on its way to the core: redis-cli's output relayed (by the pipe's writer thread, for
    the EOF mark) into the compressor (:func:`corral.compressed`), whose output is :attr:`reader`.

    Nothing of it touches local disk but redis-cli's and the compressor's reports (small temp files in
    ``work_dir``). :attr:`started` is set once the first bytes arrived, or the transfer ended without any (a
    refused login). :meth:`finish` returns the RDB's size or raises :class:`SnapshotError`.
    """

    def __init__(self, connect: RedisConnect, codec: Codec, run: RunContext, work_dir: Path) -> None:
        argv, env = redis_cli_command(connect)
        self.run, self.codec = run, codec
        self.cli_report = tempfile.TemporaryFile(dir=work_dir)  # noqa: SIM115 (closed by finish)
        self.cli = run.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.cli_report, env=env)
        self.started = threading.Event()
        self.flowing = False  # the first bytes arrived
        self.received = 0
        self.size = 0
        self.error: SnapshotError | None = None
        self.finished = False
        try:
            self.pipe = compressed(run, self._pump, codec.argv, work_dir, describe=_codec_failed)
        except BaseException:
            self.cli.kill()
            self.cli.wait()
            run.forget(self.cli)
            self.cli_report.close()
            raise
        self.reader = self.pipe.reader

    def _first_bytes(self) -> None:
        self.flowing = True
        self.started.set()

    def _pump(self, sink: BinaryIO) -> None:
        try:
            assert self.cli.stdout is not None
            self.received, tail = _relay(self.cli.stdout, sink, self._first_bytes)
            code = self.cli.wait()
            report = _read(self.cli_report)
            if code != 0:
                raise SnapshotError(cli_error(report, code))
            size, marked = payload_size(report)
            if self.received != size + (EOF_MARK if marked else 0):
                raise SnapshotError(f"redis-cli announced {size} bytes but sent {self.received}")
            if not marked:
                sink.write(tail)
            self.size = size
        except (SnapshotError, OSError) as exc:
            self.error = exc if isinstance(exc, SnapshotError) else SnapshotError(str(exc.strerror or exc))
            if self.cli.poll() is None:  # nobody reads it any more
                self.cli.kill()
        finally:
            self.started.set()

    def finish(self) -> int:
        """Once the core read the stream to the end (or gave up): the snapshot's size, or why it is not whole."""
        if not self.finished:
            self.finished = True
            ended = self.pipe.wait()  # the relay has ended: redis-cli exited or was killed
            try:
                self.cli.wait()
            finally:
                self.run.forget(self.cli)
            compressor = ended.compressor
            if compressor is not None and compressor.failed and (
                    self.error is None or "stopped reading" in str(self.error)):
                self.error = SnapshotError(ended.error)
            self.cli_report.close()
        if self.error is not None:
            raise self.error
        return self.size


def _codec_failed(end: Exit) -> str:
    lines = [line for line in end.stderr if line.strip()]
    return f"`{end.program}` failed: {lines[-1] if lines else f'exit code {end.code}'}"


def _relay(source: IO[bytes], sink: IO[bytes], first: Callable[[], None] | None = None) -> tuple[int, bytes]:
    """Copy ``source`` to ``sink`` except its last :data:`EOF_MARK` bytes; returns (bytes read, those bytes).
    ``first`` is called when the first bytes arrived.

    Reads whatever the pipe holds (``os.read``) and writes slices without copying: about 1 s of CPU per GB.
    """
    received = 0
    held = b""
    fd = source.fileno()
    try:
        while chunk := os.read(fd, CHUNK):
            if received == 0:
                if first is not None:
                    first()
                if not chunk.startswith(b"REDIS"[: len(chunk)]):
                    raise SnapshotError("redis-cli's output is not an RDB file")
            received += len(chunk)
            if len(chunk) >= EOF_MARK:
                if held:
                    sink.write(held)
                sink.write(memoryview(chunk)[:-EOF_MARK])
                held = chunk[-EOF_MARK:]
            else:
                held += chunk
                if len(held) > EOF_MARK:
                    sink.write(held[:-EOF_MARK])
                    held = held[-EOF_MARK:]
    except BrokenPipeError:
        raise SnapshotError("the compressor stopped reading its input") from None
    return received, held


def _read(report: IO[bytes]) -> str:
    report.seek(0)
    return report.read().decode(errors="replace")
