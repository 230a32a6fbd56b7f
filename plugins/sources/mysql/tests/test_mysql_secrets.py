"""Passwords stay secret (never in `ps`, the environment or the log) and a bad connection fails one source only."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from pathlib import Path

from mysql_testkit import CORRAL, NOW, drop, execute, local_storage, restore_sql, run_corral, stored, write_config

from corral_testservers import MariaDB
from corral_testservers.ports import free_port

WRONG_PASSWORD = "Wr0ng-s3cret-🙈"


def test_wrong_password_and_unreachable_server_fail_their_source_only(
    mariadb_server: MariaDB, mariadb_server2: MariaDB, restore_server: MariaDB, tmp_path: Path
) -> None:
    execute(mariadb_server2, "CREATE DATABASE pw_ok", "CREATE TABLE pw_ok.t (id INT PRIMARY KEY)",
            "INSERT INTO pw_ok.t VALUES (7)")
    backups = tmp_path / "backups"
    config = write_config(tmp_path, [{
        "job": "two-instances", "type": "mysql",
        "sources": [
            {"connect": {"db_host": "127.0.0.1", "db_port": mariadb_server.port, "db_user": mariadb_server.user,
                         "db_password": WRONG_PASSWORD}},
            {"connect": {"db_host": "127.0.0.1", "db_port": free_port(), "db_user": "nobody",
                         "db_password": mariadb_server.password}},
            {"connect": {"db_host": "127.0.0.1", "db_port": mariadb_server2.port, "db_user": mariadb_server2.user,
                         "db_password": mariadb_server2.password},
             "target": ["pw_ok"], "compression": "zstd"},
        ],
        "storages": [local_storage(backups)],
    }])  # fmt: skip
    try:
        done = run_corral(config, "two-instances")
        output = done.stdout + done.stderr
        assert done.returncode == 1
        errors = [line for line in done.stderr.splitlines() if "[ERROR]" in line and "source" in line]
        assert len(errors) == 2, done.stderr
        assert re.search(
            rf"\[ERROR\] \[two-instances\] source 1: mysql 127\.0\.0\.1:{mariadb_server.port}: cannot list the "
            r"databases: ERROR 1045 \(28000\): Access denied for user 'corral'@'127\.0\.0\.1' \(using password: YES\)$",
            errors[0],
        ), errors[0]
        assert "source 2: mysql 127.0.0.1:" in errors[1] and "Can't connect" in errors[1], errors[1]
        assert "Traceback" not in output
        for secret in (WRONG_PASSWORD, mariadb_server.password, mariadb_server2.password):
            assert secret not in output
        archive = stored(backups, "two-instances")["pw_ok"]
        restore_sql(archive, restore_server)
        assert execute(restore_server, "SELECT id FROM pw_ok.t") == [(7,)]
    finally:
        drop(mariadb_server2, "pw_ok")
        drop(restore_server, "pw_ok")


def _processes() -> dict[int, tuple[bytes, bytes]]:
    """Every process's argv and environment, as ``ps e`` would show them to root."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        found[int(entry)] = (cmdline, environ)
    return found


def test_password_never_visible_in_ps_while_dumping(mariadb_server: MariaDB, tmp_path: Path) -> None:
    """Samples every process's argv and environment while a slowed-down dump runs (`--where` sleeps per row)."""
    execute(mariadb_server, "CREATE DATABASE ps_slow", "CREATE TABLE ps_slow.t (id INT PRIMARY KEY)",
            "INSERT INTO ps_slow.t VALUES " + ",".join(f"({i})" for i in range(8)))
    secret = mariadb_server.password.encode()
    config = write_config(tmp_path, [{
        "job": "slow", "type": "mysql",
        "sources": [{"connect": {"db_host": "127.0.0.1", "db_port": mariadb_server.port,
                                 "db_user": mariadb_server.user, "db_password": mariadb_server.password},
                     "target": ["ps_slow"], "compression": "zstd",
                     "extra_keys": "--routines --where='SLEEP(0.25) = 0'"}],
        "storages": [local_storage(tmp_path / "backups")],
    }])  # fmt: skip
    seen_dump: list[str] = []
    option_modes: set[int] = set()
    seen_compressor = False
    try:
        corral = subprocess.Popen([str(CORRAL), "start", "-c", str(config), "slow"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env={**os.environ, "CORRAL_NOW": NOW})
        leaks = []
        while corral.poll() is None:
            for pid, (cmdline, environ) in _processes().items():
                if secret in cmdline or secret in environ:
                    leaks.append((pid, cmdline))
                argv = [arg.decode(errors="replace") for arg in cmdline.split(b"\0") if arg]
                if argv and argv[0].endswith("mariadb-dump"):
                    seen_dump = argv
                    options = Path(argv[1].removeprefix("--defaults-file="))
                    with contextlib.suppress(FileNotFoundError):
                        option_modes.add(options.stat().st_mode & 0o777)
                if argv[:2] and argv[0].endswith("zstd") and "-T0" in argv:
                    seen_compressor = True
            time.sleep(0.02)
        stdout, stderr = corral.communicate()
        assert corral.returncode == 0, stderr
        assert not leaks
        assert seen_dump[1].startswith("--defaults-file="), seen_dump
        assert "--single-transaction" in seen_dump and seen_dump[-3:] == ["--databases", "--", "ps_slow"]
        assert option_modes == {0o600}
        assert not Path(seen_dump[1].removeprefix("--defaults-file=")).exists(), "the option file is deleted"
        assert seen_compressor
        assert mariadb_server.password not in stdout.decode() + stderr.decode()
    finally:
        drop(mariadb_server, "ps_slow")
