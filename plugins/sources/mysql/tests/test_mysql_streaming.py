"""``mysql`` and ``mysql_xtradb`` stream: a dump far larger than tmp_dir (a small tmpfs) is stored whole, and a dump
that fails half-way leaves nothing under a final name anywhere."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from mysql_testkit import NOW, connect, drop, execute, local_storage, restore_sql, stored, write_config

from corral.testing.cli import start_in_small_tmp
from corral_testservers import MariaDB

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a size-limited tmpfs (root only)")

BLOB = 4 * 1024 * 1024  # two rows: 16 MiB of hex INSERTs, eight times the tmpfs


def _fill(server: MariaDB, db: str) -> None:
    execute(server, f"CREATE DATABASE {db}", f"CREATE TABLE {db}.a_big (id INT PRIMARY KEY, data LONGBLOB)")
    rng = random.Random(db)
    conn = connect(server, db)
    try:
        with conn.cursor() as cur:
            for index in range(2):
                cur.execute("INSERT INTO a_big VALUES (%s, %s)", (index, rng.randbytes(BLOB)))
    finally:
        conn.close()


def _start_in_small_tmp(small_tmp: Path, config: Path, job: str) -> subprocess.CompletedProcess[str]:
    """``corral start -v JOB`` with ``small_tmp`` a 2 MiB tmpfs."""
    return start_in_small_tmp(small_tmp, ["start", "-v", "-c", str(config), job], {"CORRAL_NOW": NOW}, timeout=600)


def _job(server: MariaDB, tmp_path: Path, job_type: str, **source: Any) -> Path:
    connect_keys = {"db_host": "127.0.0.1", "db_port": server.port, "db_user": server.user,
                    "db_password": server.password}
    return write_config(tmp_path, [{
        "job": "streamed", "type": job_type, "tmp_dir": str(tmp_path / "small-tmp" / "work"),
        "sources": [{"connect": connect_keys, "compression": "none", **source}],
        "storages": [local_storage(tmp_path / "backups")],
    }])  # fmt: skip


def test_a_dump_bigger_than_tmp_dir_streams_and_a_failing_one_stores_nothing(
    mariadb_server: MariaDB, restore_server: MariaDB, tmp_path: Path
) -> None:
    try:
        _fill(mariadb_server, "st_big")
        _fill(mariadb_server, "st_bad")  # its view comes after the table: mariadb-dump fails 16 MiB into the dump
        execute(mariadb_server, "CREATE TABLE st_bad.gone (id INT)", "CREATE VIEW st_bad.v AS SELECT id FROM "
                "st_bad.gone", "DROP TABLE st_bad.gone")
        config = _job(mariadb_server, tmp_path, "mysql", target=["st_bad", "st_big"])
        done = _start_in_small_tmp(tmp_path / "small-tmp", config, "streamed")
        assert done.returncode == 1, done.stderr
        errors = [line for line in done.stderr.splitlines() if "[ERROR] [streamed] source 1" in line]
        assert len(errors) == 1, done.stderr
        assert "target st_bad: mariadb-dump exited with code 2: " in errors[0]
        assert errors[0].endswith("; nothing was stored"), errors[0]
        assert "target st_big: archive made and streamed (" in done.stderr
        assert set(stored(tmp_path / "backups", "streamed")) == {"st_big"}
        assert not [p for p in (tmp_path / "backups" / "streamed").rglob("*st_bad*") if p.is_file()], "no temp file"
        assert stored(tmp_path / "backups", "streamed")["st_big"].stat().st_size > 16 * 1024 * 1024
        restore_sql(stored(tmp_path / "backups", "streamed")["st_big"], restore_server)
        assert execute(restore_server, "SELECT SUM(LENGTH(data)) FROM st_big.a_big") == [(2 * BLOB,)]
    finally:
        drop(mariadb_server, "st_big", "st_bad")
        drop(restore_server, "st_big")


def test_a_hot_copy_bigger_than_tmp_dir_streams(mariadb_server: MariaDB, tmp_path: Path) -> None:
    """mariabackup's stream goes straight to the storage; only its few metadata files touch tmp_dir."""
    try:
        _fill(mariadb_server, "st_hot")
        config = _job(mariadb_server, tmp_path, "mysql_xtradb", name="hot")
        done = _start_in_small_tmp(tmp_path / "small-tmp", config, "streamed")
        assert done.returncode == 0, done.stderr
        archive = stored(tmp_path / "backups", "streamed")["hot"]
        assert archive.stat().st_size > 8 * 1024 * 1024
        unpacked = tmp_path / "unpacked"
        unpacked.mkdir()
        subprocess.run(["mbstream", "-x", "-C", str(unpacked)], stdin=archive.open("rb"), check=True)
        # the table's data file (`.ibd`, or `.new` for a table created just before the copy)
        assert sum(path.stat().st_size for path in (unpacked / "st_hot").glob("a_big.*")) >= 2 * BLOB
    finally:
        drop(mariadb_server, "st_hot")
