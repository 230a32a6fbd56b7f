"""``corral drill`` for ``redis``: the snapshot as ``dump.rdb`` in the drill's scratch folder, a throwaway
``redis-server`` started on it (or its keys loaded into the job's ``drill: server``), the keys per logical
database compared with the ``INFO`` the manifest recorded, then the job's ``command`` checks against that server.

The comparison. The facts are ``INFO keyspace`` taken right before the snapshot, and Redis drops a key whose expiry
has passed while it loads an RDB (its log says how many: "keys expired: N"). So a database may come back with
fewer keys than recorded for two honest reasons: keys that expired since the backup, and writes between ``INFO``
and the fork (up to ``repl-diskless-sync-delay``, 5 s by default, on a live server). The keys Redis dropped at
load are credited back to the databases that came back short (the log gives only a total), and what is left is
compared within the job's ``drill: tolerance`` (0.1 by default; ``tolerance: 0`` is exact, right for a server
that nobody writes to while it is backed up).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, cast

import redis

from corral import (
    DrillReport,
    DrillRequest,
    JobConfig,
    RestoreError,
    RunContext,
    command_check,
    compare_counts,
    human_size,
)
from corral_source_redis.options import RedisConnect, RedisSource
from corral_source_redis.restore import _client, _keyspace, _one_line, copy_keys, serve_rdb, target_server, write_rdb

_EXPIRED_AT_LOAD = re.compile(r"Done loading RDB, keys loaded: \d+, keys expired: (\d+)")


def drill(job: JobConfig, storage: Any, target: str, run: RunContext, request: DrillRequest) -> DrillReport:
    path = request.archive.path
    rdb = request.scratch / "dump.rdb"
    size = write_rdb(run, storage, path, rdb)  # redis-check-rdb judges it first, when installed
    request.say(f"wrote `{rdb.name}` ({human_size(size)}) from `{path}` into the scratch folder")
    designated = _designated(job, request.server) if request.server else None
    with serve_rdb(run, request.scratch, path) as scratch:
        expired = _expired_at_load(request.scratch / "redis.log")
        if designated is None:
            where, server = "a throwaway redis-server", scratch
            return _judge(run, request, server, expired, f"{human_size(size)} RDB in {where}")
        try:
            return _into(run, request, scratch, designated, expired, size)
        finally:
            _flush(designated, request)


def _into(run: RunContext, request: DrillRequest, scratch: RedisConnect, server: RedisConnect, expired: int,
          size: int) -> DrillReport:  # fmt: skip
    """The keys copied into the designated scratch server, flushed first (``--force``: it is the user's scratch)."""
    client = _client(server)
    try:
        present = _keyspace(client, server)
        if present:
            client.flushall()
            request.say(f"flushed the drill server {server.where}: {sum(present.values())} key(s)")
    except redis.RedisError as exc:
        raise RestoreError(f"drill server {server.where}: {_one_line(exc)}") from None
    finally:
        client.close()
    started = time.monotonic()
    keys, _ = copy_keys(scratch, server)
    request.say(f"copied {keys} key(s) into {server.where} in {time.monotonic() - started:.1f} s")
    return _judge(run, request, server, expired, f"{human_size(size)} RDB loaded into {server.where}")


def _flush(server: RedisConnect, request: DrillRequest) -> None:
    """The drill's copy does not stay on the designated server (a copy of the data is one more place to guard)."""
    client = _client(server)
    try:
        client.flushall()
        request.say(f"flushed the drill server {server.where}")
    except redis.RedisError as exc:
        request.say(f"could not flush the drill server {server.where}: {_one_line(exc)}")
    finally:
        client.close()


def _designated(job: JobConfig, server: str) -> RedisConnect:
    """``drill: server`` as a connection (``HOST:PORT``, ``HOST`` or a socket; its password in ``REDISCLI_AUTH``);
    a server the job backs up is refused: the drill flushes it."""
    connect = target_server(job, "", server)
    sources = [cast(RedisSource, source).connect for source in job.sources]
    ids = {found for found in map(_run_id, sources) if found is not None}
    # `localhost`, a hostname or the socket name the same server as the job's `127.0.0.1`: the server says who it is
    if connect.where in {source.where for source in sources} or _run_id(connect) in ids:
        raise RestoreError(f"drill: server `{server}` is a server job `{job.name}` backs up; a drill flushes its "
                           "server: give a scratch one")
    return connect


def _run_id(connect: RedisConnect) -> str | None:
    """The server's own id (``INFO server``), the same under every name it is reached by; None if it does not
    answer (a drill server that is down fails later, in its own line)."""
    client = _client(connect)
    try:
        found = client.info("server").get("run_id")
        return str(found) if found else None
    except redis.RedisError:
        return None
    finally:
        client.close()


def _expired_at_load(log: Path) -> int:
    match = _EXPIRED_AT_LOAD.search(log.read_text(errors="replace")) if log.exists() else None
    return int(match[1]) if match else 0


def _judge(run: RunContext, request: DrillRequest, server: RedisConnect, expired: int, how: str) -> DrillReport:
    client = _client(server)
    try:
        found = {f"db{db}": keys for db, keys in _keyspace(client, server).items()}
    finally:
        client.close()
    restored = f"{sum(found.values()):,} key(s) in {len(found)} database(s), {how}"
    if expired:
        restored += f"; {expired:,} key(s) had expired since the snapshot (dropped at load)"
    problems: list[str] = []
    recorded = request.facts.get("keys") if isinstance(request.facts.get("keys"), dict) else None
    if recorded is not None:
        problems += compare_counts("database", recorded, credited(recorded, found, expired), request.tolerance)
    passed = 0
    env = {"REDISCLI_AUTH": server.db_password.get_secret_value() if server.db_password else "",
           "CORRAL_DRILL_DIR": str(request.scratch)}
    env.update({"REDIS_SOCKET": str(server.socket)} if server.socket is not None
               else {"REDIS_HOST": str(server.db_host), "REDIS_PORT": str(server.db_port)})
    for check in request.checks:
        if check.sql is not None:
            problems.append(f"check `{check.sql}`: an sql check needs an SQL database")
            continue
        failure = command_check(run, check, request.scratch, env)
        if failure:
            problems.append(failure)
        else:
            passed += 1
    return DrillReport(restored=restored, problems=problems, checks=passed, compared=recorded is not None)


def credited(recorded: dict[str, int], found: dict[str, int], expired: int) -> dict[str, int]:
    """``found`` with the keys Redis dropped at load (a total) given back to the databases that came back short,
    in order, never above what was recorded; a recorded database that came back empty counts 0."""
    result = {**{name: 0 for name in recorded}, **found}
    for name in sorted(recorded):
        if expired <= 0:
            break
        short = max(0, int(recorded[name] or 0) - result[name])
        given = min(short, expired)
        result[name] += given
        expired -= given
    return result
