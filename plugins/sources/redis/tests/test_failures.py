"""What a person sees when a source fails: one line naming the job, the source and the cause; the other sources
still run; the password shows up nowhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from redis_testkit import STAMP, redis_job, redis_source, run_corral

from corral.testing.cli import corral
from corral_source_redis.snapshot import SnapshotError, cli_error, payload_size
from corral_testservers import Redis
from corral_testservers.ports import free_port


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "[ERROR]" in line]


def test_wrong_password_fails_that_source_and_the_next_source_still_runs(tmp_path: Path, source_redis: Redis) -> None:
    wrong = "not-the-password-" + source_redis.password[:4]
    backups = tmp_path / "backups"
    sources = [
        redis_source(source_redis, connect={"db_password": wrong}),
        redis_source(source_redis, connect={"db_host": "localhost"}),
    ]
    done = run_corral(tmp_path, [redis_job("cache", sources, backups)], secrets=[wrong, source_redis.password])
    assert done.returncode == 1
    errors = error_lines(done.stderr)
    assert re.search(r"\[ERROR\] \[cache\] source 1: redis 127\.0\.0\.1:\d+: AUTH failed: WRONGPASS invalid "
                     r"username-password pair or user is disabled\.$", errors[0]), errors
    target = f"redis_localhost_{source_redis.port}"
    assert (backups / "cache" / target / f"{target}_{STAMP}.rdb").is_file()
    assert not (backups / "cache" / f"redis_127.0.0.1_{source_redis.port}").exists()
    assert not list((tmp_path / "tmp").rglob("*.rdb*"))  # no partial snapshot left behind
    log = (tmp_path / "log" / "corral.log").read_text()
    for text in (done.stderr, done.stdout, log):
        assert wrong not in text and source_redis.password not in text


def test_no_password_and_unreachable_server_are_one_line_each(tmp_path: Path, source_redis: Redis) -> None:
    closed = free_port()
    sources = [
        redis_source(source_redis, connect={"db_password": None}),
        redis_source(source_redis, connect={"db_port": closed}),
    ]
    done = run_corral(tmp_path, [redis_job("cache", sources, tmp_path / "backups")])
    assert done.returncode == 1
    errors = error_lines(done.stderr)
    assert errors[0].endswith(f"[cache] source 1: redis 127.0.0.1:{source_redis.port}: SYNC with master failed: "
                              "-NOAUTH Authentication required."), errors
    assert errors[1].endswith(f"[cache] source 2: redis 127.0.0.1:{closed}: Could not connect to Redis at "
                              f"127.0.0.1:{closed}: Connection refused"), errors


def test_missing_redis_cli_is_named_with_its_package(tmp_path: Path, source_redis: Redis) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    done = run_corral(tmp_path, [redis_job("cache", [redis_source(source_redis)], tmp_path / "backups")],
                      env={"PATH": str(empty_bin)})
    assert done.returncode == 1
    assert error_lines(done.stderr)[0].endswith(
        "[cache] source 1: `redis-cli` is not installed (apt install redis-tools)")


def test_bad_keys_are_reported_before_anything_runs(tmp_path: Path, source_redis: Redis) -> None:
    both = redis_source(source_redis, connect={"socket": "/run/redis.sock"})
    neither = {"connect": {"db_port": 6380}, "gzip": True, "compression": "zstd"}
    done = run_corral(tmp_path, [redis_job("cache", [both, neither], tmp_path / "b")])
    assert done.returncode == 1  # the job cannot run; the others of the configuration would
    assert "[ERROR] [cache] job cannot run: " in done.stderr and not (tmp_path / "b").exists()
    assert "give either `socket` or `db_host`, not both" in done.stderr
    assert "give `db_host` (and `db_port`) or `socket`" in done.stderr


def test_generate_writes_a_template_that_validates(tmp_path: Path) -> None:
    done = corral("generate", "--type", "redis", "--storage", "local")
    assert done.returncode == 0, done.stderr
    lines = [line.split("  #")[0] for line in done.stdout.splitlines()]
    for line in ("  type: redis", "  - connect:", "      db_host: localhost", "      db_port: 6379",
                 "      socket: ''", "      db_password: ''", "    gzip: no", "  - storage: local"):
        assert line in lines, line
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "redis.conf").write_text(done.stdout.replace("/var/corral", str(tmp_path)))
    main = tmp_path / "corral.conf"
    main.write_text(f"main:\n  general_path_to_all_tmp_dir: {tmp_path / 'tmp'}\njobs: !include [conf.d/*.conf]\n")
    checked = corral("check", "-c", str(main))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_redis_cli_reports_are_read_for_both_transfer_kinds() -> None:
    diskless = ("sending REPLCONF capa eof\nSYNC sent to master, writing bytes of bulk transfer until EOF marker to "
                "'-'\nTransfer finished with success after 182 bytes\n")
    assert payload_size(diskless) == (182, True)
    sized = "SYNC sent to master, writing 4096 bytes to '-'\nTransfer finished with success.\n"
    assert payload_size(sized) == (4096, False)
    with pytest.raises(SnapshotError):
        payload_size("something else\n")
    report = "AUTH failed: WRONGPASS invalid\nsending REPLCONF capa eof\n"
    assert cli_error(report, 1) == "AUTH failed: WRONGPASS invalid"
    assert cli_error("", 1) == "redis-cli exited with code 1"
