"""``redis-cli --rdb -``: the server's RDB snapshot over the replication protocol, relayed into the compressor.

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
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from corral import RunContext
from corral_source_redis.compression import Codec
from corral_source_redis.options import RedisConnect

EOF_MARK = 40  # RDB_EOF_MARK_SIZE
CHUNK = 1 << 20
_DISKLESS = re.compile(r"until EOF marker")
_MARKED_SIZE = re.compile(r"Transfer finished with success after (\d+) bytes")
_SIZED = re.compile(r"SYNC sent to master, writing (\d+) bytes")


class SnapshotError(Exception):
    """The snapshot could not be taken or stored; the message is one line for the log."""


@dataclass(frozen=True)
class Snapshot:
    path: Path
    size: int  # bytes of RDB before compression


def redis_cli_command(connect: RedisConnect) -> tuple[list[str], dict[str, str]]:
    """redis-cli's arguments and environment: address and user in argv, the password only in the environment."""
    argv = ["redis-cli"]
    argv += ["-s", str(connect.socket)] if connect.socket is not None else ["-h", connect.db_host or "", "-p",
                                                                           str(connect.db_port)]
    if connect.db_user:
        argv += ["--user", connect.db_user]
    argv += ["--rdb", "-"]
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


def take_snapshot(connect: RedisConnect, archive: Path, codec: Codec, run: RunContext) -> Snapshot:
    """Write the server's snapshot to ``archive`` through ``codec``; a failure leaves no file behind."""
    argv, env = redis_cli_command(connect)
    with open(archive, "wb") as out, tempfile.TemporaryFile(dir=archive.parent) as cli_report, \
            tempfile.TemporaryFile(dir=archive.parent) as codec_report:
        compressor = run.popen(list(codec.argv), stdin=subprocess.PIPE, stdout=out, stderr=codec_report) \
            if codec.argv else None
        cli = run.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=cli_report, env=env)
        try:
            sink = compressor.stdin if compressor is not None else out
            assert sink is not None and cli.stdout is not None
            received, tail = _relay(cli.stdout, sink)
            code = cli.wait()
            report = _read(cli_report)
            if code != 0:
                raise SnapshotError(cli_error(report, code))
            size, marked = payload_size(report)
            if received != size + (EOF_MARK if marked else 0):
                raise SnapshotError(f"redis-cli announced {size} bytes but sent {received}")
            if not marked:
                sink.write(tail)
            _finish(compressor, codec, codec_report)
        except BaseException:
            for process in (cli, compressor):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait()
            archive.unlink(missing_ok=True)
            raise
        finally:
            for process in (cli, compressor):
                if process is not None:
                    run.forget(process)
    return Snapshot(archive, size)


def _relay(source: IO[bytes], sink: IO[bytes]) -> tuple[int, bytes]:
    """Copy ``source`` to ``sink`` except its last :data:`EOF_MARK` bytes; returns (bytes read, those bytes).

    Reads whatever the pipe holds (``os.read``) and writes slices without copying: about 1 s of CPU per GB.
    """
    received = 0
    held = b""
    fd = source.fileno()
    try:
        while chunk := os.read(fd, CHUNK):
            if received == 0 and not chunk.startswith(b"REDIS"[: len(chunk)]):
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


def _finish(compressor: subprocess.Popen[bytes] | None, codec: Codec, report: IO[bytes]) -> None:
    if compressor is None:
        return
    assert compressor.stdin is not None
    compressor.stdin.close()
    code = compressor.wait()
    if code != 0:
        lines = _read(report).splitlines()
        raise SnapshotError(f"`{codec.program}` failed: {lines[-1] if lines else f'exit code {code}'}")


def _read(report: IO[bytes]) -> str:
    report.seek(0)
    return report.read().decode(errors="replace")
