"""The snapshot streams: one four times larger than tmp_dir (a 2 MiB tmpfs) is stored whole and restores, and a
transfer that breaks half-way (redis-cli dying after 3 MB) or a compressor that fails half-way leaves nothing
under a final name anywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import redis
from redis_testkit import NOW, contents, redis_from_rdb, redis_job, redis_source

from corral.testing.cli import start_in_small_tmp, write_main
from corral_testservers import start_redis

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a size-limited tmpfs (root only)")


def _start_in_small_tmp(tmp_path: Path, main: Path, path: str | None = None) -> subprocess.CompletedProcess[str]:
    """``corral start`` with tmp_dir a 2 MiB tmpfs."""
    return start_in_small_tmp(tmp_path / "small-tmp", ["start", "-c", str(main)],
                              {"CORRAL_NOW": NOW, **({"PATH": path} if path else {})})


def _breaking(tmp_path: Path) -> str:
    """A PATH whose redis-cli passes on 3 MB of the real one's output, then dies with an error, and whose zstd
    fails after 1 MB of input."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real_cli, real_zstd = shutil.which("redis-cli"), shutil.which("zstd")
    (bin_dir / "redis-cli").write_text(f"#!/bin/bash\n'{real_cli}' \"$@\" 2>/dev/null | head -c 3000000\n"
                                       "echo 'Error: connection lost' >&2\nexit 1\n")
    (bin_dir / "zstd").write_text(f"#!/bin/bash\nhead -c 1000000 | '{real_zstd}' -c\n"
                                  "echo 'zstd: error 70 : Write error : No space left on device' >&2\nexit 1\n")
    for program in ("redis-cli", "zstd"):
        (bin_dir / program).chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


def test_a_snapshot_bigger_than_tmp_dir_streams(tmp_path: Path, server_tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    with start_redis(server_tmp_path) as server:
        client = redis.Redis(**server.connect_kwargs())
        for index in range(8):
            client.set(f"blob:{index}", os.urandom(1024 * 1024))
        job = redis_job("cache", [redis_source(server, compression="none")], backups)
        job["tmp_dir"] = str(tmp_path / "small-tmp" / "work")
        done = _start_in_small_tmp(tmp_path, write_main(tmp_path, [job]))
        assert done.returncode == 0, done.stderr
        expected = contents(**server.connect_kwargs())
    (archive,) = backups.rglob("*.rdb")
    assert archive.stat().st_size > 8 * 1024 * 1024
    restore = tmp_path / "restore"
    restore.mkdir()
    shutil.copy(archive, restore / "dump.rdb")
    with redis_from_rdb(restore) as restored:
        assert contents(**restored) == expected


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_a_transfer_that_breaks_half_way_stores_nothing(tmp_path: Path, server_tmp_path: Path,
                                                        compression: str) -> None:  # fmt: skip
    backups = tmp_path / "backups"
    with start_redis(server_tmp_path) as server:
        client = redis.Redis(**server.connect_kwargs())
        for index in range(6):
            client.set(f"blob:{index}", os.urandom(1024 * 1024))
        job = redis_job("cache", [redis_source(server, compression=compression)], backups)
        job["tmp_dir"] = str(tmp_path / "small-tmp" / "work")
        done = _start_in_small_tmp(tmp_path, write_main(tmp_path, [job]), path=_breaking(tmp_path))
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if "[ERROR] [cache] source 1:" in line]
    assert len(errors) == 1, done.stderr
    cause = "`zstd` failed: zstd: error 70" if compression == "zstd" else "Error: connection lost"
    assert f"source 1: target redis_127.0.0.1_{server.port}: redis 127.0.0.1:{server.port}: {cause}" in errors[0]
    assert errors[0].endswith("; nothing was stored"), errors[0]
    assert not [path for path in backups.rglob("*")
                if path.is_file() and ".runs" not in path.parts], "nothing, not even a temp file (the run record aside)"
