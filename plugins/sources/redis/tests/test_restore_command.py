"""``corral restore`` of a ``redis`` job, from a real ``corral start`` backup: a ``dump.rdb`` for ``--to``, the keys
into a running server otherwise (never over keys without ``--force``), ``--date``, ``--dry-run``, a damaged archive
and an encrypted one."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis_testkit import contents, load_every_type, redis_from_rdb, redis_job, redis_source

from corral.testing.cli import corral, write_main
from corral_testservers import Redis, start_redis

DAY1, DAY2 = "2026-01-30T03:00:00", "2026-01-31T03:00:00"


@pytest.fixture
def source(server_tmp_path: Path) -> Iterator[Redis]:
    with start_redis(server_tmp_path / "source") as server:
        load_every_type(server)
        yield server


@pytest.fixture
def other(server_tmp_path: Path) -> Iterator[Redis]:
    """An empty server the job does not back up."""
    with start_redis(server_tmp_path / "other") as server:
        yield server


def backup(tmp_path: Path, server: Redis, now: str = DAY2, **main: Any) -> Path:
    config = write_main(tmp_path, [redis_job("cache", [redis_source(server, compression="zstd")],
                                             tmp_path / "backups")], **main)
    done = corral("start", "-c", str(config), env={"CORRAL_NOW": now})
    assert done.returncode == 0, done.stderr
    return config


def restore(config: Path, server: Redis, *args: str, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return corral("restore", "cache", "--target", f"redis_127.0.0.1_{server.port}", *args, "-c", str(config),
                  env=env)


def test_to_a_folder_gives_a_dump_rdb_that_redis_server_starts_on(tmp_path: Path, source: Redis) -> None:
    config = backup(tmp_path, source)
    done = restore(config, source, "--to", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert f"wrote `{tmp_path / 'out' / 'dump.rdb'}`" in done.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dump.rdb"]
    with redis_from_rdb(tmp_path / "out") as restored:
        assert contents(**restored) == contents(**source.connect_kwargs())


def test_into_another_server_brings_every_key_type_database_and_expiry(tmp_path: Path, source: Redis,
                                                                       other: Redis) -> None:
    config = backup(tmp_path, source)
    done = restore(config, source, "--into", f"127.0.0.1:{other.port}", env=other.env())
    assert done.returncode == 0, done.stderr
    got = contents(**other.connect_kwargs())
    assert set(got) == {0, 5}
    assert got == contents(**source.connect_kwargs())
    assert f"into redis 127.0.0.1:{other.port}" in done.stdout
    assert not list((tmp_path / "tmp").rglob("dump.rdb"))  # the scratch server's folder is gone


def test_the_own_server_with_keys_is_refused_then_replaced_with_force(tmp_path: Path, source: Redis) -> None:
    config = backup(tmp_path, source)
    live = redis.Redis(**source.connect_kwargs())
    live.set("written after the backup", "x")
    live.delete("str:int")
    held = live.dbsize() + redis.Redis(**source.connect_kwargs(), db=5).dbsize()
    done = restore(config, source)
    assert done.returncode == 2
    assert done.stderr == (f"corral: error: redis 127.0.0.1:{source.port} holds {held} key(s) in 2 database(s): "
                           "restoring would mix the backup into them; use --force to flush it first\n")
    assert live.get("written after the backup") == b"x"

    done = restore(config, source, "--force")
    assert done.returncode == 0, done.stderr
    assert f"flushed redis 127.0.0.1:{source.port} (--force): {held} key(s)" in done.stdout
    assert live.get("written after the backup") is None
    assert live.get("str:int") == b"12345"


def test_date_picks_the_backup_of_that_day(tmp_path: Path, source: Redis, other: Redis) -> None:
    live = redis.Redis(**source.connect_kwargs())
    live.set("version", "one")
    config = backup(tmp_path, source, DAY1)
    live.set("version", "two")
    backup(tmp_path, source, DAY2)
    env = other.env()
    done = restore(config, source, "--date", "2026-01-30", "--into", f"127.0.0.1:{other.port}", env=env)
    assert done.returncode == 0, done.stderr
    assert redis.Redis(**other.connect_kwargs()).get("version") == b"one"
    done = restore(config, source, "--into", f"127.0.0.1:{other.port}", "--force", env=env)  # the newest
    assert done.returncode == 0, done.stderr
    assert redis.Redis(**other.connect_kwargs()).get("version") == b"two"


def test_dry_run_says_the_plan_and_changes_nothing(tmp_path: Path, source: Redis) -> None:
    config = backup(tmp_path, source)
    live = redis.Redis(**source.connect_kwargs())
    live.set("written after the backup", "x")
    before = contents(**source.connect_kwargs())
    done = restore(config, source, "--force", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert f"would flush 127.0.0.1:{source.port}" in done.stdout and "dry run: nothing was changed" in done.stdout
    assert contents(**source.connect_kwargs()) == before
    done = restore(config, source, "--dry-run", "--to", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "would write" in done.stdout and not (tmp_path / "out").exists()


def test_a_damaged_archive_fails_in_one_line_and_changes_nothing(tmp_path: Path, source: Redis,
                                                                 other: Redis) -> None:
    config = backup(tmp_path, source)
    archive = next((tmp_path / "backups").rglob("*.rdb.zst"))
    data = bytearray(archive.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)
    archive.write_bytes(bytes(data))
    done = restore(config, source, "--to", str(tmp_path / "out"))
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("corral: error: "), done.stderr
    assert "read back is not what was stored" in done.stderr  # the manifest's checksum refuses it first
    assert list((tmp_path / "out").iterdir()) == []
    done = restore(config, source, "--to", str(tmp_path / "out"), "--no-verify")
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr
    assert "does not decompress" in done.stderr  # without the proof, the codec still refuses it
    assert list((tmp_path / "out").iterdir()) == []
    for proof in ((), ("--no-verify",)):
        done = restore(config, source, "--into", f"127.0.0.1:{other.port}", *proof, env=other.env())
        assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr
    assert redis.Redis(**other.connect_kwargs()).dbsize() == 0


def test_an_encrypted_archive_restores_with_the_identity(tmp_path: Path, source: Redis, other: Redis) -> None:
    identity = tmp_path / "key.txt"
    subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
    public = subprocess.run(["age-keygen", "-y", str(identity)], check=True, capture_output=True,
                            text=True).stdout.strip()
    config = backup(tmp_path, source, encrypt={"recipients": [public]})
    assert next((tmp_path / "backups").rglob("*.rdb.zst.age"))
    into = ("--into", f"127.0.0.1:{other.port}")
    done = restore(config, source, *into, env=other.env())
    assert done.returncode == 2 and "--identity" in done.stderr
    done = restore(config, source, *into, "--identity", str(identity), env=other.env())
    assert done.returncode == 0, done.stderr
    assert contents(**other.connect_kwargs()) == contents(**source.connect_kwargs())
