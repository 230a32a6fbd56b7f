"""The facts a ``mysql`` archive's manifest entry records (docs/verify.md): what the server holds, read by the real
``corral start``; a statistics query that fails leaves a warning and the archive stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mysql_testkit import drop, execute, local_storage, manifest_facts, run_corral, stored, write_config

from corral_testservers import MariaDB

DB = "facts_shop"
TABLES = {"orders": 1000, "legacy": 50, "empty": 0, "Tabellé ✓": 3}


@pytest.fixture
def shop(mariadb_server: MariaDB) -> Any:
    execute(mariadb_server, f"CREATE DATABASE {DB}", f"USE {DB}",
            "CREATE TABLE orders (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB",
            "INSERT INTO orders SELECT seq, CONCAT('order ', seq) FROM seq_1_to_1000",
            "CREATE TABLE legacy (id INT PRIMARY KEY) ENGINE=MyISAM",
            "INSERT INTO legacy SELECT seq FROM seq_1_to_50",
            "CREATE TABLE empty (id INT PRIMARY KEY) ENGINE=InnoDB",
            "CREATE TABLE `Tabellé ✓` (id INT PRIMARY KEY) ENGINE=InnoDB",
            "INSERT INTO `Tabellé ✓` VALUES (1), (2), (3)",
            "CREATE VIEW big_orders AS SELECT id FROM orders WHERE id > 500",
            "ANALYZE TABLE orders, legacy, empty, `Tabellé ✓`")
    yield DB
    drop(mariadb_server, DB)


def _config(tmp_path: Path, server: MariaDB) -> Path:
    return write_config(tmp_path, [{
        "job": "db", "type": "mysql",
        "sources": [{"connect": {"db_host": "127.0.0.1", "db_port": server.port, "db_user": server.user,
                                 "db_password": server.password}, "target": [DB]}],
        "storages": [local_storage(tmp_path / "backups")],
    }])  # fmt: skip


def test_manifest_records_what_the_server_holds(mariadb_server: MariaDB, shop: str, tmp_path: Path) -> None:
    done = run_corral(_config(tmp_path, mariadb_server), "db")
    assert done.returncode == 0, done.stderr
    facts = manifest_facts(tmp_path / "backups", "db")[DB]
    counted = {name: execute(mariadb_server, f"SELECT COUNT(*) FROM `{name}`", database=DB)[0][0] for name in TABLES}
    assert counted == TABLES
    assert facts["tables"] == {name: {"rows": rows} for name, rows in sorted(TABLES.items())}  # not the view
    assert facts["server"] == execute(mariadb_server, "SELECT VERSION()")[0][0]
    assert facts["tool"].startswith(("mariadb-dump ", "mysqldump "))
    assert facts["database"] == DB
    size = execute(mariadb_server, "SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES"
                   f" WHERE TABLE_SCHEMA = '{DB}'")[0][0]
    assert facts["bytes"] == size > 0
    assert "[WARNING]" not in done.stderr


def test_a_failing_statistics_query_warns_and_the_archive_is_stored(
    mariadb_server: MariaDB, shop: str, tmp_path: Path
) -> None:
    """The statistics query is pointed at a table that does not exist (through sitecustomize): the server
    refuses it, the dump goes on."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import corral_source_mysql.facts as facts\n"
        "facts._TABLES = 'SELECT * FROM no_such_schema.no_such_table'\n"
    )
    done = run_corral(_config(tmp_path, mariadb_server), "db", env={"PYTHONPATH": str(site)})
    assert done.returncode == 0, done.stderr
    assert set(stored(tmp_path / "backups", "db")) == {DB}
    warning = next(line for line in done.stderr.splitlines() if "facts: cannot read the table statistics" in line)
    assert "WARNING" in warning and "no_such_table" in warning
    facts = manifest_facts(tmp_path / "backups", "db")[DB]
    assert facts["database"] == DB and facts["tool"] and "tables" not in facts
