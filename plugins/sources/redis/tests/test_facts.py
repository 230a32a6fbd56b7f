"""The facts a ``redis`` archive's manifest entry records (docs/verify.md), read by the real ``corral start`` from
what the server holds; a user who may replicate but not run INFO gets a warning and the archive stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis_testkit import STAMP, redis_job, redis_source, run_corral

from corral_testservers import Redis

DB = 9  # keys of this test only


@pytest.fixture
def known_keys(source_redis: Redis) -> Iterator[int]:
    conn = redis.Redis(**source_redis.connect_kwargs(), db=DB)
    conn.flushdb()
    conn.mset({f"facts:{n}": n for n in range(7)})
    conn.hset("facts:hash", mapping={"a": 1})
    yield 8
    conn.flushdb()


def _facts(backups: Path) -> dict[str, Any]:
    (entry,) = json.loads((backups / "cache" / ".manifests" / f"{STAMP}.json").read_text())["archives"]
    return entry["facts"]


def test_manifest_records_what_the_server_holds(tmp_path: Path, source_redis: Redis, known_keys: int) -> None:
    backups = tmp_path / "backups"
    done = run_corral(tmp_path, [redis_job("cache", [redis_source(source_redis)], backups)],
                      secrets=[source_redis.password])
    assert done.returncode == 0, done.stderr
    facts = _facts(backups)
    server = redis.Redis(**source_redis.connect_kwargs())
    keyspace = server.info("keyspace")
    assert facts["keys"] == {name: counts["keys"] for name, counts in keyspace.items()}
    assert facts["keys"][f"db{DB}"] == known_keys
    assert facts["keys"]["db5"] == 3
    assert facts["server"] == server.info("server")["redis_version"]
    assert facts["tool"].startswith("redis-cli ")
    assert facts["bytes"] > 5 << 20  # str:large alone is 5 MiB
    assert "[WARNING]" not in (tmp_path / "log" / "corral.log").read_text()


def test_a_user_without_info_gets_a_warning_and_the_snapshot_is_stored(tmp_path: Path, source_redis: Redis) -> None:
    """A replication-only ACL user: INFO is refused (NOPERM), the snapshot is allowed."""
    admin = redis.Redis(**source_redis.connect_kwargs())
    admin.execute_command("ACL", "SETUSER", "syncer", "on", ">sync-secret-1", "+sync", "+psync", "+replconf", "+ping")
    try:
        backups = tmp_path / "backups"
        source = redis_source(source_redis, connect={"db_user": "syncer", "db_password": "sync-secret-1"})
        done = run_corral(tmp_path, [redis_job("cache", [source], backups)], secrets=["sync-secret-1"])
        assert done.returncode == 0, done.stderr
        log = (tmp_path / "log" / "corral.log").read_text()
        warning = next(line for line in log.splitlines() if "facts: INFO did not answer" in line)
        assert "[WARNING]" in warning and "NOPERM" in warning
        target = f"redis_127.0.0.1_{source_redis.port}"
        assert [path.name for path in (backups / "cache" / target).iterdir()] == [f"{target}_{STAMP}.rdb"]
        facts = _facts(backups)
        assert facts["tool"].startswith("redis-cli ") and facts["server"] is None and "keys" not in facts
    finally:
        admin.execute_command("ACL", "DELUSER", "syncer")
