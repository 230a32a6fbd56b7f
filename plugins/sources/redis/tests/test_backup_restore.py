"""The real ``corral start`` snapshots Redis; the archive, decompressed to ``dump.rdb`` in a fresh server's ``dir``,
brings back every key of every type and database, byte for byte, with the same expiry times."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import redis
from redis_testkit import STAMP, contents, decompress, redis_from_rdb, redis_job, redis_source, run_corral

from corral_testservers import Redis, start_redis

EXTENSIONS = {"zstd": "rdb.zst", "gzip": "rdb.gz", "none": "rdb"}


@pytest.mark.parametrize("codec", ["zstd", "gzip", "none"])
def test_snapshot_restores_every_key_type_database_and_expiry(codec: str, tmp_path: Path, source_redis: Redis) -> None:
    backups = tmp_path / "backups"
    keys = {"gzip": True} if codec == "gzip" else {"compression": codec}
    done = run_corral(tmp_path, [redis_job("cache", [redis_source(source_redis, **keys)], backups)],
                      secrets=[source_redis.password])
    assert done.returncode == 0, done.stderr
    target = f"redis_127.0.0.1_{source_redis.port}"
    archive = backups / "cache" / target / f"{target}_{STAMP}.{EXTENSIONS[codec]}"
    assert sorted(p.name for p in backups.rglob("*")
                  if p.is_file() and p.parent.name not in (".manifests", ".runs")) == [archive.name]

    rdb = decompress(archive, tmp_path / "restore" / "dump.rdb")
    assert rdb.read_bytes().startswith(b"REDIS")
    check = subprocess.run(["redis-check-rdb", str(rdb)], capture_output=True, text=True)
    assert check.returncode == 0 and "RDB looks OK" in check.stdout, check.stdout
    assert f"[offset {rdb.stat().st_size}] Checksum OK" in check.stdout  # the file ends where the RDB ends
    with redis_from_rdb(rdb.parent) as restored:
        expected = contents(**source_redis.connect_kwargs())
        got = contents(**restored)
        assert set(got) == {0, 5}
        assert got == expected
        db0 = redis.Redis(**restored)
        assert db0.get(b"str:bin\x00\xff\n key") == bytes(range(256)) * 4
        assert db0.get("str:unicode").decode() == "漢字 🎉 שלום café"
        assert len(db0.get("str:large")) == 5 << 20
        assert db0.xpending("stream:events", "workers")["pending"] == 10
        assert db0.zscore("zset:small", "b") == float("-inf")
        assert 0 < db0.pttl("ttl:millis") <= 86_400_123


def test_snapshot_from_a_server_with_disk_based_replication(tmp_path: Path, server_tmp_path: Path) -> None:
    """Without diskless sync the server sends a sized bulk (no EOF mark): the relay must keep every byte."""
    with start_redis(server_tmp_path) as server:
        client = redis.Redis(**server.connect_kwargs())
        client.config_set("repl-diskless-sync", "no")
        client.set("k", b"\x00" * 1000)
        client.hset("h", mapping={"a": "b"})
        client.set("t", "x", ex=1000)
        backups = tmp_path / "backups"
        done = run_corral(tmp_path, [redis_job("cache", [redis_source(server, compression="zstd")], backups)])
        assert done.returncode == 0, done.stderr
        expected = contents(**server.connect_kwargs())
    archive = next(backups.rglob("*.rdb.zst"))
    rdb = decompress(archive, tmp_path / "restore" / "dump.rdb")
    with redis_from_rdb(rdb.parent) as restored:
        assert contents(**restored) == expected


def test_unix_socket_and_an_acl_user_with_only_sync_rights(tmp_path: Path) -> None:
    rdb_dir = tmp_path / "live"
    rdb_dir.mkdir()
    socket_path = rdb_dir / "redis.sock"
    with redis_from_rdb(rdb_dir, "--unixsocket", str(socket_path), "--unixsocketperm", "700",
                        "--repl-diskless-sync-delay", "0") as live:
        admin = redis.Redis(**live)
        admin.acl_setuser("backup", enabled=True, passwords=["+backup-pw"], commands=["+replconf", "+sync"])
        admin.set("via", "socket")
        backups = tmp_path / "backups"
        source = {"connect": {"socket": str(socket_path), "db_user": "backup", "db_password": "backup-pw"},
                  "compression": "zstd"}
        done = run_corral(tmp_path, [redis_job("cache", [source], backups)], secrets=["backup-pw"])
        assert done.returncode == 0, done.stderr
    target = "redis_" + str(socket_path).strip("/").replace("/", "_")
    archive = backups / "cache" / target / f"{target}_{STAMP}.rdb.zst"
    assert archive.is_file(), sorted(backups.rglob("*"))
    rdb = decompress(archive, tmp_path / "restore" / "dump.rdb")
    with redis_from_rdb(rdb.parent) as restored:
        assert redis.Redis(**restored).get("via") == b"socket"
