"""Helpers of the Redis tests: data of every type, restoring an archive the documented way, comparing servers."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

from corral.testing.cli import corral, local_storage, write_main
from corral_testservers import Redis
from corral_testservers.ports import HOST, free_port, port_open
from corral_testservers.prerequisites import require_executable
from corral_testservers.processes import running

NOW = "2026-01-31T03:00:00"
STAMP = "2026-01-31_03-00-00"
DATABASES = range(16)


def load_every_type(server: Redis) -> None:
    """db 0 and db 5: every data type, both of its encodings, binary keys and values, expiries."""
    db0 = redis.Redis(**server.connect_kwargs())
    db0.set(b"str:bin\x00\xff\n key", bytes(range(256)) * 4)
    db0.set("str:unicode", "漢字 🎉 שלום café".encode())
    db0.set("str:int", 12345)
    db0.set("str:large", os.urandom(5 << 20))
    db0.setbit("str:bitmap", 100_000, 1)
    db0.pfadd("str:hll", *[f"visitor{n}" for n in range(1000)])
    db0.hset("hash:small", mapping={"a": "1", "b": b"\x00\x01"})
    db0.hset("hash:big", mapping={f"field{n}": os.urandom(80) for n in range(1000)})
    db0.rpush("list:small", "x", "y", b"\xff")
    db0.rpush("list:big", *[f"item{n}" * 10 for n in range(20_000)])
    db0.sadd("set:ints", *range(100))
    db0.sadd("set:strs", "a", "b", "ü")
    db0.sadd("set:big", *[os.urandom(20) for _ in range(2000)])
    db0.zadd("zset:small", {"a": 1.5, "b": float("-inf"), "c": float("inf")})
    db0.zadd("zset:big", {f"m{n}": n / 7 for n in range(5000)})
    db0.geoadd("geo:cities", (2.3522, 48.8566, "paris"), (13.405, 52.52, "berlin"))
    for n in range(50):
        db0.xadd("stream:events", {"n": n, "payload": os.urandom(16)})
    db0.xgroup_create("stream:events", "workers", id="0")
    db0.xreadgroup("workers", "alice", {"stream:events": ">"}, count=10)  # 10 entries pending for alice
    db0.set("ttl:seconds", "v", ex=3600)
    db0.set("ttl:millis", "v", px=86_400_123)
    db0.hset("ttl:hash", "f", "v")
    db0.expire("ttl:hash", 7200)
    other = redis.Redis(**server.connect_kwargs(), db=5)
    other.set("db5:key", "in database five")
    other.lpush("db5:list", *range(10))
    other.set("db5:ttl", "x", ex=500)




def value_of(conn: redis.Redis, key: bytes, kind: bytes) -> Any:
    """A key's value, comparable across servers: DUMP (byte exact) where the order is part of the value; sorted
    members for sets and hashes, whose DUMP follows the hash table's order."""
    if kind == b"set":
        return sorted(conn.smembers(key))
    if kind == b"hash":
        return sorted(conn.hgetall(key).items())
    return conn.dump(key)


def contents(**connect: Any) -> dict[int, dict[bytes, tuple[bytes, bytes, Any, int]]]:
    """Every key of every database: (type, encoding, value, absolute expiry in ms or -1)."""
    result: dict[int, dict[bytes, tuple[bytes, bytes, Any, int]]] = {}
    for db in DATABASES:
        conn = redis.Redis(**connect, db=db)
        keys = {}
        for key in conn.scan_iter(count=1000):
            kind = conn.type(key)
            keys[key] = (kind, conn.object("encoding", key), value_of(conn, key, kind), conn.pexpiretime(key))
        if keys:
            result[db] = keys
    return result


# ------------------------------------------------------------------------------------------------- restore


def decompress(archive: Path, rdb: Path) -> Path:
    """The archive as a plain RDB file, with the standard tools."""
    rdb.parent.mkdir(parents=True, exist_ok=True)
    name = archive.name
    tool = ["zstd", "-dcq"] if name.endswith(".zst") else ["gzip", "-dc"] if name.endswith(".gz") else ["cat"]
    with rdb.open("wb") as out:
        subprocess.run([*tool, str(archive)], stdout=out, check=True)
    return rdb


@contextlib.contextmanager
def redis_from_rdb(rdb_dir: Path, *extra: str) -> Iterator[dict[str, Any]]:
    """The documented restore: ``dump.rdb`` in the server's ``dir``, then start redis-server."""
    server = require_executable("redis-server", apt="redis-server")
    port = free_port()
    argv = [server, "--port", str(port), "--bind", HOST, "--dir", str(rdb_dir), "--dbfilename", "dump.rdb",
            "--save", "", "--appendonly", "no", "--logfile", "", *extra]
    client = redis.Redis(host=HOST, port=port)

    def loaded() -> bool:
        return port_open(port) and client.ping()

    with running(argv, what="redis-server (restore)", log=rdb_dir / "redis.log", ready=loaded, timeout=30):
        yield {"host": HOST, "port": port}


# --------------------------------------------------------------------------------------------- running


def redis_source(server: Redis, **keys: Any) -> dict[str, Any]:
    connect = {"db_host": server.host, "db_port": server.port, "db_password": server.password}
    connect.update(keys.pop("connect", {}))
    return {"connect": connect, **keys}


def redis_job(name: str, sources: list[dict[str, Any]], backups: Path) -> dict[str, Any]:
    return {"job": name, "type": "redis", "sources": sources, "storages": [local_storage(backups)]}


def run_corral(tmp_path: Path, jobs: list[dict[str, Any]], secrets: list[str] | tuple[str, ...] = (),
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``corral start`` on these jobs; fails the test if a secret shows up in any process's arguments."""
    main = write_main(tmp_path, jobs)
    with ArgvWatch(secrets) as watch:
        done = corral("start", "-c", str(main), env={"CORRAL_NOW": NOW, **(env or {})})
    assert not watch.leaks, f"a secret appeared in process arguments: {watch.leaks}"
    return done


class ArgvWatch:
    """Samples every process's command line (what `ps` shows) while a block runs."""

    def __init__(self, secrets: list[str] | tuple[str, ...]) -> None:
        self.secrets = [s for s in secrets if s]
        self.leaks: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ArgvWatch:
        if self.secrets:
            self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self) -> None:
        while not self._stop.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                self.leaks += [args for secret in self.secrets if secret in args]
            self._stop.wait(0.02)
