"""``corral_source_inventory`` of ``mysql`` and ``mysql_xtradb`` against the session's real MariaDB: every
database but the system schemas, those ``target``/``excludes`` select, and a refused login as one line."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from mysql_testkit import drop, execute

from corral import RunContext
from corral_source_mysql import dump, xtradb
from corral_source_mysql.options import MySQLSource, XtradbSource
from corral_testservers import MariaDB

NAMES = ["inv_shop", "inv_blog", "inv_scratch_1"]


def _run(tmp_path: Path) -> RunContext:
    return RunContext(now=datetime(2026, 1, 31, 3), main=None, config_path=tmp_path / "corral.conf")


def _connect(server: MariaDB, password: str | None = None) -> dict[str, object]:
    return {"db_host": "127.0.0.1", "db_port": server.port, "db_user": server.user,
            "db_password": server.password if password is None else password}


def test_all_minus_excludes_and_named_targets(mariadb_server: MariaDB, tmp_path: Path) -> None:
    execute(mariadb_server, *(f"CREATE DATABASE IF NOT EXISTS `{name}`" for name in NAMES))
    try:
        source = MySQLSource(connect=_connect(mariadb_server), target=["all"],
                             excludes=["information_schema", "performance_schema", "mysql", "sys", "inv_scratch_*"])
        found = dump.corral_source_inventory(source=source, tmp_dir=tmp_path, run=_run(tmp_path))
        assert found.error is None
        assert (found.engine, found.host, found.port) == ("mysql", "127.0.0.1", mariadb_server.port)
        assert found.server == f"mysql 127.0.0.1:{mariadb_server.port}"
        assert set(NAMES) <= set(found.databases)
        assert not {"mysql", "sys", "information_schema", "performance_schema"} & set(found.databases)
        assert {"inv_shop", "inv_blog"} <= set(found.dumped) and "inv_scratch_1" not in found.dumped

        named = MySQLSource(connect=_connect(mariadb_server), target=["inv_shop", "inv_gone"])
        found = dump.corral_source_inventory(source=named, tmp_dir=tmp_path, run=_run(tmp_path))
        assert found.dumped == ("inv_shop", "inv_gone")  # a missing name is the dump's failure, not a gap

        whole = XtradbSource(connect=_connect(mariadb_server))
        found = xtradb.corral_source_inventory(source=whole, tmp_dir=tmp_path, run=_run(tmp_path))
        assert set(found.databases) <= set(found.dumped) and set(NAMES) <= set(found.dumped)
    finally:
        drop(mariadb_server, *NAMES)
    assert list(tmp_path.iterdir()) == []  # the option file holding the password is gone


def test_refused_login_is_one_line_without_the_password(mariadb_server: MariaDB, tmp_path: Path) -> None:
    source = MySQLSource(connect=_connect(mariadb_server, password="wrong-pw-4d2a"))
    found = dump.corral_source_inventory(source=source, tmp_dir=tmp_path, run=_run(tmp_path))
    assert found.error is not None and found.error.startswith("cannot list the databases: ")
    assert "\n" not in found.error and "wrong-pw-4d2a" not in found.error
    assert (found.databases, found.dumped) == ((), ())
