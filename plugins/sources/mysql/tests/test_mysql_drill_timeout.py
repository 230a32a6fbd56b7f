"""``main: drill_timeout``: a dump that makes the drill's load hang (``SELECT SLEEP(86400)`` appended by whoever
can write to the storage) is stopped after that many seconds and its target fails in one line; the next target is
still drilled, and the run lock is let go so the night's ``corral start`` is not blocked."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

from mysql_testkit import CORRAL, STAMP, drill_tmp, drop, execute, local_storage, write_config

from corral_testservers import MariaDB
from corral_testservers.workdirs import instance_dir

HANG, GOOD = "dt_a_hang", "dt_b_good"  # drilled in this order
TIMEOUT = 15


def corral(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CORRAL_NOW": "2026-01-31T03:00:00"}
    return subprocess.run([str(CORRAL), *args], capture_output=True, text=True, timeout=600, env=env)


def test_a_hanging_drill_is_stopped_and_the_next_target_drilled(mariadb_server: MariaDB,
                                                                corral_servers_root: Path) -> None:
    tmp = instance_dir(corral_servers_root, "dt")  # 0755: the throwaway's `mysql` user traverses it
    drill_tmp(tmp, "shop")
    for db in (HANG, GOOD):
        drop(mariadb_server, db)
        execute(mariadb_server, f"CREATE DATABASE {db}")
        execute(mariadb_server, "CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1), (2)", database=db)
    connect = {"db_host": "127.0.0.1", "db_port": mariadb_server.port, "db_user": mariadb_server.user,
               "db_password": mariadb_server.password}
    jobs = [{"job": "shop", "type": "mysql", "storages": [local_storage(tmp / "b")],
             "sources": [{"connect": connect, "target": [HANG, GOOD], "compression": "none"}]}]
    config = write_config(tmp, jobs)
    config.write_text(config.read_text().replace("  server_name: test\n", f"  server_name: test\n"
                                                  f"  drill_timeout: {TIMEOUT}\n"))
    try:
        done = corral("start", "-c", str(config))
        assert done.returncode == 0, done.stderr
        [dump] = (tmp / "b" / "shop" / HANG).glob(f"{HANG}_*.sql")
        with open(dump, "ab") as out:
            out.write(b"SELECT SLEEP(86400);\n")
        record = tmp / "b" / "shop" / ".manifests" / f"{STAMP}.json"
        data = json.loads(record.read_text())  # the storage's writer also rewrote the manifest: the bytes are proven
        for entry in data["archives"]:
            if entry["target"] == HANG:
                entry.update(size=dump.stat().st_size, sha256=hashlib.sha256(dump.read_bytes()).hexdigest())
        record.write_text(json.dumps(data))
        started = time.monotonic()
        done = corral("drill", "shop", "-c", str(config))
        took = time.monotonic() - started
    finally:
        drop(mariadb_server, HANG, GOOD)
    assert done.returncode == 1, done.stdout + done.stderr
    [hang] = [line for line in done.stdout.splitlines() if line.startswith(f"shop/{HANG}: ")]
    assert f"drill timed out after {TIMEOUT} s (drill_timeout) and was stopped" in hang, hang
    [good] = [line for line in done.stdout.splitlines() if line.startswith(f"shop/{GOOD}: ")]
    assert "passed" in good and "FAILED" not in good, good
    assert took < 3 * TIMEOUT + 60, f"the drill took {took:.0f} s"
    assert not [p for p in (tmp / "tmp" / "shop").iterdir()], "the scratch folders are gone"
