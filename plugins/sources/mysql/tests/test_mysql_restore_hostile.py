"""A dump altered on the storage (a hostile storage admin, or a broken one) loads as SQL into the named database
and nothing more: the mariadb client corral feeds it to (as root, in restores and drills) runs no shell command
(``\\!``, ``system``), even with the dump's own sandbox line removed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from mysql_testkit import CORRAL, drop, execute, local_storage, write_config

from corral_testservers import MariaDB

NOW = "2026-01-31T03:00:00"


def corral(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CORRAL), *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CORRAL_NOW": NOW})


def test_a_tampered_dump_runs_no_shell_command(mariadb_server: MariaDB, tmp_path: Path) -> None:
    config = write_config(tmp_path, [{
        "job": "evil", "type": "mysql",
        "sources": [{"connect": {"db_host": "127.0.0.1", "db_port": mariadb_server.port,
                                 "db_user": mariadb_server.user, "db_password": mariadb_server.password},
                     "target": ["h_shop"], "compression": "zstd"}],
        "storages": [local_storage(tmp_path / "backups")],
    }])  # fmt: skip
    drop(mariadb_server, "h_shop", "h_copy")
    execute(mariadb_server, "CREATE DATABASE h_shop", "CREATE TABLE h_shop.t (v TEXT)",
            "INSERT INTO h_shop.t VALUES ('x')")
    try:
        assert corral("start", "-c", str(config), "evil").returncode == 0
        (archive,) = (tmp_path / "backups" / "evil" / "h_shop").glob("h_shop_*.sql.zst")
        sql = subprocess.run(["zstd", "-dc", str(archive)], capture_output=True, check=True).stdout
        sql = sql.replace(b"/*M!999999\\- enable the sandbox mode */", b"")  # the dump's own guard, removed
        marks = [tmp_path / f"ran-{n}" for n in range(3)]
        sql += f"\n\\! touch {marks[0]}\nsystem touch {marks[1]}\n\\T {marks[2]}\nSELECT 1;\n".encode()
        archive.write_bytes(subprocess.run(["zstd", "-c"], input=sql, capture_output=True, check=True).stdout)

        done = corral("restore", "evil", "--target", "h_shop", "--as", "h_copy", "-c", str(config))
        assert "Traceback" not in done.stderr, done.stderr
        assert [m.name for m in marks if m.exists()] == [], (done.stdout, done.stderr)
        assert done.returncode == 1 and "is partly loaded" in done.stderr, "the escapes are SQL errors now"
    finally:
        drop(mariadb_server, "h_shop", "h_copy")
