"""``corral restore`` of a ``mysql`` dump drops the database it created when the load fails or is stopped by
SIGTERM half-way; a database that was there (empty, loaded into) is never dropped."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from mysql_testkit import CORRAL, connect, drop, execute
from test_mysql_restore_hostile import NOW, backed_up, corral

from corral_testservers import MariaDB

BIG = ["CREATE TABLE r_int.a_big (id INT PRIMARY KEY, body TEXT)",
       "INSERT INTO r_int.a_big SELECT seq, MD5(seq) FROM r_int.seq_1_to_100000",
       "CREATE TABLE r_int.z_posts (id INT PRIMARY KEY)", "INSERT INTO r_int.z_posts VALUES (1)"]  # fmt: skip


def stopped_mid_load(server: MariaDB, config: Path, into: str) -> tuple[int, str]:
    """``corral restore`` of r_int as ``into``, SIGTERMed while the client waits for a table lock: a transaction
    of ours reads ``z_posts`` (created while ``a_big`` loads) until corral is stopped."""
    process = subprocess.Popen([str(CORRAL), "restore", "evil", "--target", "r_int", "--as", into, "-c",
                                str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "CORRAL_NOW": NOW})  # fmt: skip
    blocker: Any = None
    try:
        deadline = time.monotonic() + 120
        while blocker is None:
            assert time.monotonic() < deadline and process.poll() is None, process.communicate()
            if execute(server, f"SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{into}' AND "
                       "TABLE_NAME = 'a_big'"):  # the load began
                blocker = connect(server, into)
                blocker.autocommit(False)
                with blocker.cursor() as cur:
                    cur.execute("CREATE TABLE IF NOT EXISTS z_posts (id INT PRIMARY KEY)")
                    cur.execute("BEGIN")
                    cur.execute("SELECT * FROM z_posts")  # a metadata lock until the transaction ends
            else:
                time.sleep(0.02)
        while not execute(server, f"SELECT 1 FROM information_schema.PROCESSLIST WHERE DB = '{into}' AND STATE "
                          "LIKE 'Waiting for table metadata lock%'"):
            assert time.monotonic() < deadline and process.poll() is None, process.communicate()
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        time.sleep(1)
        blocker.rollback()  # corral's DROP DATABASE waits for our lock too
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        if blocker is not None:
            blocker.close()
    return process.returncode, out + err


def test_a_sigterm_during_the_load_drops_only_a_database_it_created(mariadb_server: MariaDB, tmp_path: Path) -> None:
    drop(mariadb_server, "r_int_copy", "r_int_kept")
    config = backed_up(mariadb_server, tmp_path, "r_int", *BIG)
    try:
        code, said = stopped_mid_load(mariadb_server, config, "r_int_copy")
        assert code == 128 + signal.SIGTERM, said
        assert "stopped: dropped the half-loaded database `r_int_copy`" in said, said
        assert not execute(mariadb_server, "SHOW DATABASES LIKE 'r_int_copy'"), said
        execute(mariadb_server, "CREATE DATABASE r_int_kept")
        code, said = stopped_mid_load(mariadb_server, config, "r_int_kept")
        assert code == 128 + signal.SIGTERM, said
        assert execute(mariadb_server, "SHOW DATABASES LIKE 'r_int_kept'") and "dropped" not in said, said
        # a failed load: the same
        [archive] = (tmp_path / "backups" / "evil" / "r_int").glob("r_int_*.sql.zst")
        data = bytearray(archive.read_bytes())
        data[len(data) // 2] ^= 0x10
        archive.write_bytes(bytes(data))
        drop(mariadb_server, "r_int_kept")
        execute(mariadb_server, "CREATE DATABASE r_int_kept")
        for name in ("r_int_copy", "r_int_kept"):
            done = corral("restore", "evil", "--target", "r_int", "--as", name, "-c", str(config))
            assert done.returncode == 1, done.stderr
            kept = bool(execute(mariadb_server, f"SHOW DATABASES LIKE '{name}'"))
            assert kept == (name == "r_int_kept"), done.stderr
            assert ("is partly loaded" if kept else "dropped the half-loaded database") in done.stderr, done.stderr
    finally:
        drop(mariadb_server, "r_int", "r_int_copy", "r_int_kept")
