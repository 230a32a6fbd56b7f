"""``corral drill`` of a ``redis`` job, from a real ``corral start`` backup: the snapshot loaded into a throwaway
``redis-server`` and its keys per database compared with the facts; the checks run against that server; a
designated ``drill: server``; nothing left behind (no server, no scratch folder), SIGTERM included."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis_testkit import ArgvWatch, redis_job, redis_source

from corral.testing.cli import corral, sigterm_once, write_main
from corral_testservers import Redis, start_redis

NOW = {"CORRAL_NOW": "2026-01-31T03:00:00"}


@pytest.fixture
def source(server_tmp_path: Path) -> Iterator[Redis]:
    with start_redis(server_tmp_path / "source") as server:
        db0 = redis.Redis(**server.connect_kwargs())
        db0.mset({f"user:{n}": f"u{n}" for n in range(40)})
        db0.hset("hash", mapping={"a": "1"})
        db0.set("ttl:long", "v", ex=3600)
        db5 = redis.Redis(**server.connect_kwargs(), db=5)
        db5.rpush("queue", *range(10))
        db5.set("five", "5")
        yield server


@pytest.fixture
def scratch(server_tmp_path: Path) -> Iterator[Redis]:
    with start_redis(server_tmp_path / "scratch") as server:
        yield server


def backup(tmp_path: Path, redis_server: Redis, **drill: Any) -> Path:
    job = redis_job("cache", [redis_source(redis_server, compression="zstd")], tmp_path / "backups")
    config = write_main(tmp_path, [{**job, "drill": drill} if drill else job])
    done = corral("start", "-c", str(config), env=NOW)
    assert done.returncode == 0, done.stderr
    return config


def drill(config: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return corral("drill", "cache", "-c", str(config), env={**NOW, **(env or {})})


def line(done: subprocess.CompletedProcess[str], server: Redis) -> str:
    [found] = [text for text in done.stdout.splitlines() if text.startswith(f"cache/redis_127.0.0.1_{server.port}: ")]
    return found


def left_behind(tmp_path: Path) -> tuple[list[Path], list[str]]:
    """What the drill left: files in the job's work folder, redis-server processes running in it (redis-server
    renames its process title, but it works in its `dir`)."""
    work = tmp_path / "tmp" / "cache"
    files = list(work.iterdir()) if work.exists() else []
    servers = []
    for pid in subprocess.run(["pgrep", "-x", "redis-server"], capture_output=True, text=True).stdout.split():
        try:
            if os.readlink(f"/proc/{pid}/cwd").startswith(str(work)):
                servers.append(pid)
        except OSError:
            continue
    return files, servers


def test_a_good_backup_passes_with_its_counts_and_checks(tmp_path: Path, source: Redis) -> None:
    config = backup(tmp_path, source, tolerance=0, checks=[
        {"command": 'test "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" -n 5 llen queue)" = 10'},
        {"command": 'redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" get user:7 | grep -qx u7'}])
    with ArgvWatch([source.password, "requirepass"]) as watch:  # passwords in files and the environment only
        done = drill(config)
    assert not watch.leaks, watch.leaks
    assert done.returncode == 0, done.stdout + done.stderr
    text = line(done, source)
    assert "restored in " in text and "(44 key(s) in 2 database(s), " in text, text
    assert "RDB in a throwaway redis-server)" in text and text.endswith(": passed; 2 check(s) passed"), text
    assert done.stdout.splitlines()[-1] == "DRILL PASSED: 1 of 1 target(s) restored as recorded"
    assert left_behind(tmp_path) == ([], [])


def test_a_facts_mismatch_fails_naming_the_database(tmp_path: Path, source: Redis) -> None:
    config = backup(tmp_path, source, tolerance=0)
    [record] = (tmp_path / "backups" / "cache" / ".manifests").glob("*.json")
    data = json.loads(record.read_text())
    facts = data["archives"][0]["facts"]
    assert facts["keys"] == {"db0": 42, "db5": 2}, facts
    facts["keys"]["db5"] = 3
    facts["keys"]["db9"] = 1
    record.write_text(json.dumps(data))
    done = drill(config)
    assert done.returncode == 1
    text = line(done, source)
    assert "FAILED after " in text and "database `db5`: 2 came back, 3 recorded" in text, text
    assert "database `db9`: 0 came back, 1 recorded" in text, text


def test_keys_expired_since_the_snapshot_are_credited(tmp_path: Path, source: Redis) -> None:
    """Redis drops a key whose expiry passed while it loads the RDB: the count it logs is given back."""
    redis.Redis(**source.connect_kwargs()).set("ttl:short", "v", px=1500)
    config = backup(tmp_path, source, tolerance=0)
    time.sleep(2)
    done = drill(config)
    assert done.returncode == 0, done.stdout
    assert "44 key(s) in 2 database(s)" in line(done, source)
    assert "1 key(s) had expired since the snapshot (dropped at load)" in line(done, source)


def test_a_corrupted_archive_fails_in_one_line(tmp_path: Path, source: Redis) -> None:
    config = backup(tmp_path, source)
    archive = next((tmp_path / "backups").rglob("*.rdb.zst"))
    data = bytearray(archive.read_bytes())
    data[len(data) // 2:len(data) // 2 + 16] = bytes(16)
    archive.write_bytes(bytes(data))
    done = drill(config)
    assert done.returncode == 1
    text = line(done, source)
    assert "FAILED after " in text and "restore failed: " in text and "does not decompress" in text, text
    assert left_behind(tmp_path) == ([], [])


def test_checks_that_fail_and_sql_checks_are_problems(tmp_path: Path, source: Redis) -> None:
    config = backup(tmp_path, source, checks=[
        {"command": 'redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" exists nothing | grep -qx 1'},
        {"sql": "SELECT 1"}])
    done = drill(config)
    assert done.returncode == 1
    text = line(done, source)
    assert "check `redis-cli -h \"$REDIS_HOST\" -p \"$REDIS_PORT\" exists nothing | grep -qx 1` failed (exit 1)" \
        in text, text
    assert "check `SELECT 1`: an sql check needs an SQL database" in text, text


def test_a_drill_server_gets_the_keys_and_is_flushed_after(tmp_path: Path, source: Redis, scratch: Redis) -> None:
    scratch_db = redis.Redis(**scratch.connect_kwargs())
    scratch_db.set("left over", "x")
    config = backup(tmp_path, source, tolerance=0, server=f"127.0.0.1:{scratch.port}", checks=[
        {"command": f'test "$REDIS_PORT" = {scratch.port} && '
                    'redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" get user:3 | grep -qx u3'}])
    done = drill(config, env=scratch.env())
    assert done.returncode == 0, done.stdout + done.stderr
    text = line(done, source)
    assert "(44 key(s) in 2 database(s), " in text and f"RDB loaded into 127.0.0.1:{scratch.port})" in text, text
    assert scratch_db.dbsize() == 0, "the drill's copy does not stay on the drill server"
    assert left_behind(tmp_path) == ([], [])


def test_the_job_s_own_server_is_refused_as_drill_server(tmp_path: Path, source: Redis) -> None:
    config = backup(tmp_path, source, server=f"127.0.0.1:{source.port}")
    done = drill(config)
    assert done.returncode == 1
    assert "is a server job `cache` backs up; a drill flushes its server: give a scratch one" in line(done, source)
    assert redis.Redis(**source.connect_kwargs()).dbsize() == 42


def test_sigterm_mid_drill_leaves_no_server_and_no_scratch(tmp_path: Path, source: Redis) -> None:
    marker = tmp_path / "check-started"
    config = backup(tmp_path, source, checks=[{"command": f"touch {marker} && exec sleep 300"}])

    def running() -> None:
        files, servers = left_behind(tmp_path)
        assert files and servers, "the scratch folder and its redis-server exist while it runs"

    done = sigterm_once(marker, ["drill", "cache", "-c", str(config)], NOW, running)
    assert done.returncode == 143, done.stderr
    deadline = time.monotonic() + 5
    while left_behind(tmp_path) != ([], []) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left_behind(tmp_path) == ([], [])


def test_the_job_s_own_server_under_another_name_is_refused_as_drill_server(tmp_path: Path, source: Redis) -> None:
    """`drill: server: localhost:PORT` for a job that connects to 127.0.0.1:PORT was a different string, so the
    drill flushed the production server it backs up, every week: the server's own run_id tells them apart."""
    config = backup(tmp_path, source, server=f"localhost:{source.port}")
    done = drill(config, env=source.env())
    assert done.returncode == 1, done.stdout + done.stderr
    assert "is a server job `cache` backs up; a drill flushes its server: give a scratch one" in line(done, source)
    assert redis.Redis(**source.connect_kwargs()).dbsize() == 42
