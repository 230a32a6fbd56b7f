"""``mysql`` jobs through the real ``corral start`` against real MariaDB servers, checked by restoring the
archives with the standard ``mariadb`` client into a fresh instance and comparing everything."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from mysql_testkit import (
    ARTICLE_EXTRA_KEYS,
    connect,
    drop,
    execute,
    load_awkward,
    local_storage,
    restore_sql,
    run_corral,
    snapshot,
    stored,
    write_config,
)

from corral_testservers import MariaDB

# Printable, but everything an option file or a shell could get wrong: quotes, backslash, #, ;, =, spaces.
AWKWARD_PASSWORD = ' pa"ss\\wo#rd \'ü😀 $HOME; x=1 '


@pytest.fixture
def backup_user(mariadb_server: MariaDB) -> str:
    """A least-privilege dump user whose password is hostile to option files and shells."""
    conn = connect(mariadb_server)
    try:
        with conn.cursor() as cur:
            for host in ("127.0.0.1", "localhost"):
                cur.execute("DROP USER IF EXISTS 'backup'@%s", (host,))
                cur.execute("CREATE USER 'backup'@%s IDENTIFIED BY %s", (host, AWKWARD_PASSWORD))
                cur.execute("GRANT SELECT, SHOW VIEW, TRIGGER, LOCK TABLES, EVENT, PROCESS ON *.* TO 'backup'@%s",
                            (host,))
    finally:
        conn.close()
    return "backup"


def test_two_servers_every_database_restores_identically(
    mariadb_server: MariaDB, mariadb_server2: MariaDB, restore_server: MariaDB, backup_user: str, tmp_path: Path
) -> None:
    """The article's layout: two instances in one job, `target: all` on the first (TCP, awkward password,
    zstd), a named database on the second (Unix socket, auth_file, gzip: yes)."""
    first = ["s1_shop", "s1 wiki ü-2", "s1_empty"]
    second = ["s2_shop"]
    auth_file = tmp_path / "auth.cnf"
    auth_file.write_text(f"[client]\nuser={mariadb_server2.user}\npassword={mariadb_server2.password}\n")
    auth_file.chmod(0o600)
    backups = tmp_path / "backups"
    config = write_config(tmp_path, [{
        "job": "Bitrix-mysql",
        "type": "mysql",
        "tmp_dir": str(tmp_path / "dump_tmp"),
        "sources": [
            {"connect": {"db_host": "localhost", "db_port": mariadb_server.port, "db_user": backup_user,
                         "db_password": AWKWARD_PASSWORD},
             "target": ["all"],
             "excludes": ["information_schema", "performance_schema", "mysql", "sys", "scratch_*"],
             "compression": "zstd", "is_slave": False, "extra_keys": ARTICLE_EXTRA_KEYS},
            {"connect": {"socket": str(mariadb_server2.socket), "auth_file": str(auth_file)},
             "target": second, "gzip": True, "extra_keys": ARTICLE_EXTRA_KEYS},
        ],
        "storages": [local_storage(backups)],
    }])  # fmt: skip
    try:
        for db in first[:2]:
            load_awkward(mariadb_server, db)
        execute(mariadb_server, "CREATE DATABASE s1_empty", "CREATE DATABASE scratch_tmp")
        load_awkward(mariadb_server2, "s2_shop", seed=2)
        execute(mariadb_server2, "CREATE DATABASE s2_other")
        done = run_corral(config, "Bitrix-mysql")
        assert done.returncode == 0, done.stderr
        archives = stored(backups, "Bitrix-mysql")
        assert {name: path.name.split(".", 1)[1] for name, path in archives.items() if name in first + second} == {
            "s1_shop": "sql.zst", "s1 wiki ü-2": "sql.zst", "s1_empty": "sql.zst", "s2_shop": "sql.gz"}
        assert not {"mysql", "sys", "information_schema", "performance_schema", "scratch_tmp", "s2_other"} & set(
            archives)
        assert AWKWARD_PASSWORD not in done.stderr
        for db in first + second:
            restore_sql(archives[db], restore_server)
        for db in first:
            assert snapshot(restore_server, db) == snapshot(mariadb_server, db), db
        assert snapshot(restore_server, "s2_shop") == snapshot(mariadb_server2, "s2_shop")
        # the restored routines and trigger work, not only exist
        rows = execute(restore_server, "CALL add_customer('after restore', 1)", "SELECT what FROM audit ORDER BY id",
                       database="s1_shop")
        assert rows[-1] == ("created after restore",)
        assert execute(restore_server, "SELECT double_it(21)", database="s1_shop") == [(42,)]
        assert not list((tmp_path / "dump_tmp").rglob("*")), "the tmp dir keeps nothing (no option file either)"
    finally:
        drop(mariadb_server, *first, "scratch_tmp")
        drop(mariadb_server2, *second, "s2_other")
        drop(restore_server, *first, *second)


@pytest.fixture
def broken_and_good(mariadb_server: MariaDB) -> Iterator[list[str]]:
    """`f_good` dumps; `f_broken` has a view whose table was dropped, so mariadb-dump fails on it midway."""
    execute(mariadb_server, "CREATE DATABASE f_good", "CREATE TABLE f_good.t (id INT PRIMARY KEY, v TEXT)",
            "INSERT INTO f_good.t VALUES (1, 'kept'), (2, 'also kept')",
            "CREATE DATABASE f_broken", "CREATE TABLE f_broken.gone (id INT)",
            "CREATE VIEW f_broken.v AS SELECT id FROM f_broken.gone", "DROP TABLE f_broken.gone")
    yield ["f_good", "f_broken"]
    drop(mariadb_server, "f_good", "f_broken")


def test_a_failing_database_fails_alone(
    mariadb_server: MariaDB, restore_server: MariaDB, broken_and_good: list[str], tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    config = write_config(tmp_path, [{
        "job": "db", "type": "mysql",
        "sources": [{"connect": {"db_host": "127.0.0.1", "db_port": mariadb_server.port,
                                 "db_user": mariadb_server.user, "db_password": mariadb_server.password},
                     "target": ["f_broken", "no_such_db", "f_good"], "compression": "zstd"}],
        "storages": [local_storage(backups)],
    }])  # fmt: skip
    done = run_corral(config, "db")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "[ERROR] [db] source 1: target" in line]
    assert len(errors) == 2, done.stderr
    assert "target no_such_db: no database `no_such_db` on 127.0.0.1:" in errors[0]
    assert "target f_broken: mariadb-dump exited with code 2:" in errors[1]
    assert "references invalid table" in errors[1]
    assert "Traceback" not in done.stderr
    assert set(stored(backups, "db")) == {"f_good"}
    try:
        restore_sql(stored(backups, "db")["f_good"], restore_server)
        assert execute(restore_server, "SELECT * FROM f_good.t ORDER BY id") == [(1, "kept"), (2, "also kept")]
    finally:
        drop(restore_server, "f_good")


def test_missing_dump_program_is_one_line(mariadb_server: MariaDB, tmp_path: Path) -> None:
    """A machine with the client but without mariadb-dump/mysqldump: the source fails, naming the package."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("mariadb", "zstd"):
        os.symlink(shutil.which(program), bin_dir / program)
    config = write_config(tmp_path, [{
        "job": "db", "type": "mysql",
        "sources": [{"connect": {"db_host": "127.0.0.1", "db_port": mariadb_server.port,
                                 "db_user": mariadb_server.user, "db_password": mariadb_server.password}}],
        "storages": [local_storage(tmp_path / "backups")],
    }])  # fmt: skip
    done = run_corral(config, "db", env={"PATH": str(bin_dir)})
    assert done.returncode == 1
    assert ("[ERROR] [db] source 1: neither `mariadb-dump` nor `mysqldump` is installed (apt install mariadb-client)"
            in done.stderr)
