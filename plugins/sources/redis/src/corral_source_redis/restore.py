"""``corral restore`` for ``redis``: the snapshot as a ``dump.rdb`` in a folder (``--to``), or its keys loaded into a
running server (``--into``, default the job's own).

A running server cannot load an RDB file without restarting, and replacing its file means stopping it. So corral
starts a scratch ``redis-server`` of its own on the RDB (127.0.0.1, a free port, a random password in its private
config file, no persistence, in a private work folder) and copies every key of every logical database to the target
with ``DUMP``/``RESTORE ... ABSTTL``: values byte for byte, the same absolute expiry. The target is never flushed
without ``--force``. The scratch server dies with corral and its folder is removed whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import redis

from corral import (
    CorralError,
    JobConfig,
    RestoreError,
    RestoreRequest,
    RunContext,
    decompressor,
    human_size,
    new_work_dir,
)
from corral.pump import Pump
from corral_source_redis.options import RedisConnect, RedisSource

BATCH_KEYS = 500
BATCH_BYTES = 32 << 20  # DUMP payloads held at once
SCRATCH_DATABASES = 1024  # an RDB of a server with more `databases` than the default 16 still loads
READY_POLL = 0.05


class Refused(RestoreError):
    """The target holds keys and ``--force`` was not given: nothing was changed (exit 2, as a folder with files)."""

    exit_code = 2


def restore(job: JobConfig, storage: Any, target: str, run: RunContext, request: RestoreRequest) -> list[str]:
    path = request.archive.path
    if request.to is not None:
        rdb = request.to / "dump.rdb"
        if request.dry_run:
            request.say(f"would write `{rdb}` from `{path}` ({human_size(request.archive.size)}), decompressed")
            return [path]
        size = write_rdb(run, storage, path, rdb)
        request.say(f"wrote `{rdb}` ({human_size(size)}) from `{path}`; start it with "
                    f"`redis-server --dir {request.to} --dbfilename dump.rdb --appendonly no`")
        return [path]
    connect = target_server(job, target, request.into)
    client = _client(connect)
    try:
        present = _keyspace(client, connect)
        held = sum(present.values())
        if held and not request.force:
            raise Refused(f"redis {connect.where} holds {held} key(s) in {len(present)} database(s): restoring would "
                          "mix the backup into them; use --force to flush it first")
        if request.dry_run:
            flush = f"flush {connect.where} ({held} keys), then " if held else ""
            request.say(f"would {flush}load every key of `{path}` ({human_size(request.archive.size)}) into "
                        f"redis {connect.where} with DUMP/RESTORE (through a scratch redis-server)")
            return [path]
        with scratch_server(job, run, storage, path) as (scratch, size):
            request.say(f"loaded `{path}` ({human_size(size)}) into a scratch redis-server")
            if held:
                client.flushall()
                request.say(f"flushed redis {connect.where} (--force): {held} key(s) in {len(present)} database(s)")
            started = time.monotonic()
            keys, databases = copy_keys(scratch, connect)
            request.say(f"restored {keys} key(s) in {databases} database(s) into redis {connect.where} "
                        f"in {time.monotonic() - started:.1f} s")
    except redis.RedisError as exc:
        raise RestoreError(f"redis {connect.where}: {_one_line(exc)}") from None
    finally:
        client.close()
    return [path]


# ---------------------------------------------------------------------------------------------- the RDB file


def write_rdb(run: RunContext, storage: Any, path: str, rdb: Path) -> int:
    """The archive decompressed into ``rdb`` (written beside it, then renamed); returns its size. A file that is
    no RDB, or that ``redis-check-rdb`` rejects, is refused and removed."""
    unpack = decompressor(path)
    if unpack and shutil.which(unpack[0]) is None:
        raise RestoreError(f"restoring needs the `{unpack[0]}` program, which is not installed")
    partial = rdb.with_name(f".{rdb.name}.corral-{secrets.token_hex(4)}")
    try:
        with contextlib.closing(storage.open_read(path)) as source, open(partial, "xb") as sink:
            _unpack(run, cast(BinaryIO, source), sink, unpack, path)
        with partial.open("rb") as check:
            if check.read(5) != b"REDIS":
                raise RestoreError(f"`{path}` does not hold an RDB file")
        _check_rdb(run, partial, path)
        partial.rename(rdb)
    except OSError as exc:
        raise RestoreError(f"cannot write `{rdb}`: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return rdb.stat().st_size


def _unpack(run: RunContext, source: BinaryIO, sink: BinaryIO, unpack: list[str] | None, path: str) -> None:
    if unpack is None:
        pump = Pump(source, sink, "corral-redis-restore")  # closes sink: fine, `with` closes it again
        pump.join()
        _pump_failed(pump, path)
        return
    process = run.popen(unpack, stdin=subprocess.PIPE, stdout=sink, stderr=subprocess.PIPE)
    try:
        assert process.stdin is not None and process.stderr is not None
        pump = Pump(source, cast(BinaryIO, process.stdin), "corral-redis-restore")
        err = process.stderr.read()  # a few lines; the pump closes stdin at the end of the archive
        process.wait()
        pump.join()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        run.forget(process)
    _pump_failed(pump, path)
    if process.returncode != 0:
        raise RestoreError(f"`{path}` does not decompress ({unpack[0]}): {_one_line(err.decode(errors='replace'))}")


def _pump_failed(pump: Pump, path: str) -> None:
    """Reading the stored file failed (a storage error; age's verdict on an encrypted archive)."""
    if isinstance(pump.error, CorralError):
        raise pump.error
    if pump.error is not None and not isinstance(pump.error, BrokenPipeError):
        raise RestoreError(f"reading `{path}` failed: {_one_line(pump.error)}")


def _check_rdb(run: RunContext, rdb: Path, path: str) -> None:
    """``redis-check-rdb`` when installed: a damaged file is refused before anything uses it."""
    check = shutil.which("redis-check-rdb")
    if check is None:
        return
    done = run.run([check, str(rdb)], stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        report = done.stdout.decode(errors="replace")
        reasons = [line for line in report.splitlines() if "--- " in line or "Error" in line or "Bad" in line]
        reason = reasons[0].split("--- ", 1)[-1].strip() if reasons else _one_line(report)
        raise RestoreError(f"`{path}` holds a damaged RDB (redis-check-rdb: {reason})")


# ------------------------------------------------------------------------------------------- the target


def target_server(job: JobConfig, target: str, into: str | None) -> RedisConnect:
    """``--into`` as a connection: None is the job's source server the archive came from; ``HOST:PORT``,
    ``HOST`` (port 6379) or a socket path. The password is the job's own for a server the job backs up, else
    ``REDISCLI_AUTH`` from the environment (as redis-cli takes it), else none."""
    sources = [cast(RedisSource, s).connect for s in job.sources]
    if into is None:
        own = next((c for c in sources if c.archive_target == target), None)
        if own is None:
            raise RestoreError(f"job `{job.name}` no longer backs up the server of `{target}`: give --into HOST:PORT")
        return own
    if into.startswith("/"):
        wanted: dict[str, Any] = {"socket": into}
    else:
        host, _, port = into.rpartition(":") if into.count(":") == 1 or into.startswith("[") else ("", "", "")
        host, port = (host.strip("[]"), port) if host else (into, "6379")
        if not port.isdigit():
            raise RestoreError(f"--into `{into}` is not HOST:PORT nor a socket path")
        wanted = {"db_host": host, "db_port": int(port)}
    probe = RedisConnect.model_validate(wanted)
    own = next((c for c in sources if c.where == probe.where), None)
    if own is not None:
        return own
    password = os.environ.get("REDISCLI_AUTH")
    return probe if not password else RedisConnect.model_validate({**wanted, "db_password": password})


def _client(connect: RedisConnect, db: int = 0) -> redis.Redis:
    kwargs: dict[str, Any] = {"db": db, "socket_connect_timeout": 10, "socket_timeout": 300}
    if connect.socket is not None:
        kwargs["unix_socket_path"] = str(connect.socket)
    else:
        kwargs.update(host=connect.db_host, port=connect.db_port)
    if connect.db_user:
        kwargs["username"] = connect.db_user
    if connect.db_password is not None:
        kwargs["password"] = connect.db_password.get_secret_value()
    return redis.Redis(**kwargs)


def _keyspace(client: redis.Redis, connect: RedisConnect) -> dict[int, int]:
    """Keys per logical database (INFO keyspace)."""
    try:
        info = client.info("keyspace")
    except redis.RedisError as exc:
        raise RestoreError(f"redis {connect.where}: {_one_line(exc)}") from None
    return {int(name[2:]): int(stats["keys"]) for name, stats in info.items()
            if name.startswith("db") and isinstance(stats, dict) and stats.get("keys")}


# ----------------------------------------------------------------------------------------- the scratch server


@contextlib.contextmanager
def scratch_server(job: JobConfig, run: RunContext, storage: Any, path: str) -> Iterator[tuple[RedisConnect, int]]:
    """A private ``redis-server`` holding the archive's keys: (its connection, the RDB's size)."""
    if shutil.which("redis-server") is None:
        raise RestoreError("restoring into a server needs `redis-server` (apt install redis-server) to read the RDB")
    work = new_work_dir(job.tmp_dir)
    try:
        size = write_rdb(run, storage, path, work / "dump.rdb")
        with serve_rdb(run, work, path) as connect:
            yield connect, size
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def serve_rdb(run: RunContext, work: Path, path: str) -> Iterator[RedisConnect]:
    """``redis-server`` on ``work/dump.rdb`` (127.0.0.1, a free port, a random password in a 0600 config file in
    ``work``, no persistence), started with ``run.popen`` (it dies with corral) and stopped when the block ends;
    yields once the data is loaded. Its log is ``work/redis.log``."""
    program = shutil.which("redis-server")
    if program is None:
        raise RestoreError("this needs `redis-server` (apt install redis-server) to read the RDB")
    process: subprocess.Popen[bytes] | None = None
    try:
        password = secrets.token_urlsafe(24)
        port = _free_port()
        conf = work / "redis.conf"
        conf.touch(mode=0o600)
        conf.write_text("\n".join([
            f"port {port}", "bind 127.0.0.1", "protected-mode yes", f"dir {work}", "dbfilename dump.rdb",
            'save ""', "appendonly no", "daemonize no", 'logfile ""', f"databases {SCRATCH_DATABASES}",
            f"requirepass {password}", "",
        ]))
        with open(work / "redis.log", "wb") as log:
            process = run.popen([program, str(conf)], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        connect = RedisConnect.model_validate({"db_host": "127.0.0.1", "db_port": port, "db_password": password})
        _wait_loaded(process, connect, work / "redis.log", path)
        yield connect
    finally:
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.wait()
            run.forget(process)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_loaded(process: subprocess.Popen[bytes], connect: RedisConnect, log: Path, path: str) -> None:
    """Until the scratch server answers with its data loaded; a server that exits (a damaged RDB, an RDB newer
    than this redis-server) fails the restore with its last log line."""
    client = _client(connect)
    try:
        while process.poll() is None:
            try:
                if client.ping() and not int(client.info("persistence").get("loading", 0)):
                    return
            except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                pass
            time.sleep(READY_POLL)
    finally:
        client.close()
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    reason = lines[-1].split(" * ", 1)[-1].split(" # ", 1)[-1].strip() if lines else f"exit {process.returncode}"
    raise RestoreError(f"redis-server could not load `{path}`: {reason}")


def copy_keys(scratch: RedisConnect, target: RedisConnect) -> tuple[int, int]:
    """Every key of every database of ``scratch`` into the same database of ``target`` (DUMP, RESTORE with the
    absolute expiry); returns (keys, databases). Memory: one batch of DUMP payloads."""
    source = _client(scratch)
    try:
        keyspace = _keyspace(source, scratch)
    finally:
        source.close()
    total = 0
    for db in sorted(keyspace):
        reader, writer = _client(scratch, db), _client(target, db)
        try:
            total += _copy_db(reader, writer)
        finally:
            reader.close()
            writer.close()
    return total, len(keyspace)


def _copy_db(reader: redis.Redis, writer: redis.Redis) -> int:
    copied = 0
    batch: list[bytes] = []
    for key in reader.scan_iter(count=BATCH_KEYS):
        batch.append(key)
        if len(batch) >= BATCH_KEYS:
            copied += _copy_batch(reader, writer, batch)
            batch = []
    if batch:
        copied += _copy_batch(reader, writer, batch)
    return copied


def _copy_batch(reader: redis.Redis, writer: redis.Redis, keys: list[bytes]) -> int:
    """DUMP and PEXPIRETIME the keys in one round trip, then RESTORE them in chunks of at most BATCH_BYTES."""
    asked = reader.pipeline(transaction=False)
    for key in keys:
        asked.dump(key)
        asked.pexpiretime(key)  # type: ignore[arg-type]  # bytes work (redis-py types say str)
    answers = asked.execute()
    copied = 0
    out = writer.pipeline(transaction=False)
    held = 0
    for key, payload, expiry in zip(keys, answers[::2], answers[1::2], strict=True):
        if payload is None or expiry == -2:  # expired between SCAN and DUMP
            continue
        out.restore(key, max(int(expiry), 0), payload, replace=True, absttl=expiry > 0)
        copied += 1
        held += len(payload)
        if held >= BATCH_BYTES:
            out.execute()
            out, held = writer.pipeline(transaction=False), 0
    out.execute()
    return copied


def _one_line(error: object) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
