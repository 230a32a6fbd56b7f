"""``corral restore`` of ``postgresql`` and ``postgresql_hot`` jobs: the real ``corral start`` backs up the test
server, the real ``corral restore`` loads it back (into the same server under another name, into a dropped
database, over a non-empty one only with --force, in parallel, with its roles, encrypted) or makes a data
directory that a postgres started on it serves."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest

from corral_source_postgresql.restore import parse_into
from corral_testservers import Postgres

CORRAL = Path(os.environ.get("VIRTUAL_ENV", "/work/main/.venv")) / "bin" / "corral"


def job(name: str, backup_dir: Path, connect: str, targets: str, extra: str = "") -> str:
    return f"""\
- job: {name}
  type: postgresql
{extra}  sources:
  - connect:
{connect}    target: {targets}
    compression: zstd
  storages:
  - storage: local
    backup_dir: {backup_dir}
"""


def restore(corral: Any, job_name: str, target: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(CORRAL), "restore", job_name, "--target", target, "-c", str(corral.tmp_path / "corral.conf"),
               *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)


def over_socket(server: Postgres, dbname: str = "postgres") -> dict[str, Any]:
    """Over the server's socket (trusted locally): a restore of globals into the second server replaces its
    `postgres` password with the source's (tests/test_dump.py does), which would lock a TCP login out."""
    return {**server.connect_kwargs(), "host": str(server.socket_dir), "dbname": dbname}


def execute(server: Postgres, *statements: str, dbname: str = "postgres") -> None:
    with psycopg.connect(**over_socket(server, dbname), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def exists(server: Postgres, dbname: str) -> bool:
    with psycopg.connect(**over_socket(server)) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone() is not None


def fresh(server: Postgres, dbname: str, rows: int = 300) -> None:
    execute(server, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)', f'CREATE DATABASE "{dbname}"')
    execute(server, "CREATE TABLE posts (id int PRIMARY KEY, title text)",
            f"INSERT INTO posts SELECT g, 'post ' || g FROM generate_series(1, {rows}) g", dbname=dbname)


def count(server: Postgres, dbname: str) -> int:
    with psycopg.connect(**over_socket(server, dbname)) as conn:
        row = conn.execute("SELECT count(*) FROM posts").fetchone()
        assert row is not None
        return int(row[0])


def test_parse_into() -> None:
    assert parse_into("db.example:5433") == (None, "db.example", 5433)
    assert parse_into("admin@10.0.0.5") == ("admin", "10.0.0.5", None)
    assert parse_into("admin@[::1]:5432") == ("admin", "::1", 5432)
    assert parse_into("/var/run/postgresql") == (None, "/var/run/postgresql", None)
    assert parse_into("postgres@/run/pg/.s.PGSQL.5433") == ("postgres", "/run/pg", 5433)
    for bad in ("host:port", "host:99999", "", "[::1"):
        with pytest.raises(Exception, match="--into"):
            parse_into(bad)


def test_round_trip_as_copy_and_into_another_server(
    pg: Postgres, restore_pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path
) -> None:
    """The awkward database comes back identical under another name on its own server (the job's password,
    default --into), and on another server named by its socket (libpq's own authentication)."""
    result = corral.start(job("pg-rt", tmp_path / "b", tools.connect_yaml(pg), "[corral_shop]", ""))
    assert result.code == 0, result.stderr
    execute(pg, "DROP DATABASE IF EXISTS corral_shop_copy")
    try:
        done = restore(corral, "pg-rt", "corral_shop", "--as", "corral_shop_copy")
        assert done.returncode == 0, done.stderr
        assert tools.dump_text(pg, "corral_shop_copy") == tools.dump_text(pg, "corral_shop")
        assert "created database `corral_shop_copy` on `postgres@127.0.0.1:" in done.stdout
        assert "loaded `" in done.stdout and "with pg_restore in" in done.stdout
        assert pg.password not in done.stdout + done.stderr
    finally:
        execute(pg, "DROP DATABASE IF EXISTS corral_shop_copy")
    socket = f"postgres@{restore_pg.socket_dir}/.s.PGSQL.{restore_pg.port}"
    # the owner role exists there (it may already, from tests/test_dump.py's restore of the globals)
    execute(restore_pg, f"DO $$ BEGIN CREATE ROLE {tools.OWNER}; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    done = restore(corral, "pg-rt", "corral_shop", "--into", socket, "--as", "shop2")
    assert done.returncode == 0, done.stderr
    assert tools.dump_text(restore_pg, "shop2", socket=True) == tools.dump_text(pg, "corral_shop")


def test_default_name_refusal_force_dry_run(pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path) -> None:
    fresh(pg, "corral_r1")
    result = corral.start(job("pg-r1", tmp_path / "b", tools.connect_yaml(pg), "[corral_r1]"))
    assert result.code == 0, result.stderr
    expected = tools.dump_text(pg, "corral_r1")
    execute(pg, "DROP DATABASE corral_r1")

    planned = restore(corral, "pg-r1", "corral_r1", "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert "would create database `corral_r1`" in planned.stdout and "dry run: nothing was changed" in planned.stdout
    assert not exists(pg, "corral_r1")

    done = restore(corral, "pg-r1", "corral_r1")
    assert done.returncode == 0, done.stderr
    assert tools.dump_text(pg, "corral_r1") == expected

    # a database with tables is never touched without --force: one line naming server, database, tables
    execute(pg, "DELETE FROM posts WHERE id > 10", "CREATE TABLE extra (x int)", dbname="corral_r1")
    refused = restore(corral, "pg-r1", "corral_r1")
    assert refused.returncode != 0
    (line,) = refused.stderr.strip().splitlines()
    assert "already has database `corral_r1` with 2 tables" in line and f"127.0.0.1:{pg.port}" in line
    assert count(pg, "corral_r1") == 10
    planned = restore(corral, "pg-r1", "corral_r1", "--force", "--dry-run")
    assert "would drop database `corral_r1` (2 tables)" in planned.stdout
    assert count(pg, "corral_r1") == 10

    forced = restore(corral, "pg-r1", "corral_r1", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "dropped database `corral_r1` (2 tables)" in forced.stdout
    assert tools.dump_text(pg, "corral_r1") == expected
    execute(pg, "DROP DATABASE corral_r1")


def test_date_picks_the_right_backup_and_jobs(pg: Postgres, corral: Any, tools: SimpleNamespace,
                                               tmp_path: Path) -> None:  # fmt: skip
    fresh(pg, "corral_r2", rows=100)
    text = job("pg-r2", tmp_path / "b", tools.connect_yaml(pg), "[corral_r2]")
    assert corral.start(text, env={"CORRAL_NOW": "2026-01-30T03:00:00"}).code == 0
    execute(pg, "INSERT INTO posts SELECT g, 'later' FROM generate_series(101, 250) g", dbname="corral_r2")
    assert corral.start(text, env={"CORRAL_NOW": "2026-01-31T03:00:00"}).code == 0
    execute(pg, "INSERT INTO posts VALUES (999, 'after both')", dbname="corral_r2")
    try:
        for date, rows in (("2026-01-30", 100), ("2026-01-31 02:59", 100), ("2026-01-31", 250)):
            done = restore(corral, "pg-r2", "corral_r2", "--date", date, "--as", "corral_r2_at", "--force")
            assert done.returncode == 0, done.stderr
            assert count(pg, "corral_r2_at") == rows, date
        done = restore(corral, "pg-r2", "corral_r2", "--as", "corral_r2_j", "--jobs", "2")
        assert done.returncode == 0, done.stderr
        assert count(pg, "corral_r2_j") == 250
        assert "for pg_restore -j 2 in" in done.stdout and "of temp space" in done.stdout
        assert not list((tmp_path / "tmp").rglob("restore.dump"))
    finally:
        execute(pg, "DROP DATABASE IF EXISTS corral_r2", "DROP DATABASE IF EXISTS corral_r2_at",
                "DROP DATABASE IF EXISTS corral_r2_j")


def test_with_globals_recreates_a_role(pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path) -> None:
    execute(pg, "DROP ROLE IF EXISTS corral_r3_reader", "CREATE ROLE corral_r3_reader LOGIN PASSWORD 'reader-pw-1'")
    fresh(pg, "corral_r3", rows=5)
    result = corral.start(job("pg-r3", tmp_path / "b", tools.connect_yaml(pg), "[corral_r3]"))
    assert result.code == 0, result.stderr
    execute(pg, "DROP ROLE corral_r3_reader", "DROP DATABASE corral_r3")
    try:
        done = restore(corral, "pg-r3", "corral_r3", "--with-globals")
        assert done.returncode == 0, done.stderr
        with psycopg.connect(**{**pg.connect_kwargs(), "user": "corral_r3_reader", "password": "reader-pw-1"}):
            pass  # the role is back, with its password
        assert "note: role `postgres` already exists" in done.stdout
        assert "restored globals `" in done.stdout
        assert count(pg, "corral_r3") == 5
        lines = done.stdout.splitlines()
        assert lines.index(next(line for line in lines if "restored globals" in line)) < lines.index(
            next(line for line in lines if line.startswith("loaded `")))
    finally:
        execute(pg, "DROP DATABASE IF EXISTS corral_r3")


def test_corrupted_archive_fails_in_one_line(pg: Postgres, corral: Any, tools: SimpleNamespace,
                                             tmp_path: Path) -> None:  # fmt: skip
    fresh(pg, "corral_r4", rows=20000)
    result = corral.start(job("pg-r4", tmp_path / "b", tools.connect_yaml(pg), "[corral_r4]"))
    assert result.code == 0, result.stderr
    (archive,) = [path for name, path in corral.stored(tmp_path / "b").items() if name.startswith("corral_r4_")]
    data = bytearray(archive.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = b"\xff" * 64
    archive.write_bytes(bytes(data))
    done = restore(corral, "pg-r4", "corral_r4", "--as", "corral_r4_bad")
    assert done.returncode != 0
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("corral: error:") and "dropped the half-restored database `corral_r4_bad`" in line
    assert not exists(pg, "corral_r4_bad")
    execute(pg, "DROP DATABASE corral_r4")


def test_encrypted_archive_with_identity(pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path) -> None:
    key = tmp_path / "key.txt"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    public = subprocess.run(["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True).stdout.strip()
    fresh(pg, "corral_r5", rows=42)
    text = job("pg-r5", tmp_path / "b", tools.connect_yaml(pg), "[corral_r5]",
               f"  encrypt:\n    recipients: [{public}]\n")
    result = corral.start(text)
    assert result.code == 0, result.stderr
    assert all(name.endswith(".age") for name in corral.stored(tmp_path / "b"))
    try:
        refused = restore(corral, "pg-r5", "corral_r5", "--as", "corral_r5_copy")
        assert refused.returncode != 0 and "--identity" in refused.stderr
        done = restore(corral, "pg-r5", "corral_r5", "--as", "corral_r5_copy", "--identity", str(key),
                       "--with-globals")
        assert done.returncode == 0, done.stderr
        assert count(pg, "corral_r5_copy") == 42
    finally:
        execute(pg, "DROP DATABASE IF EXISTS corral_r5", "DROP DATABASE IF EXISTS corral_r5_copy")


def test_hot_restore_makes_a_data_directory_that_starts(
    pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path, server_tmp_path: Path
) -> None:
    location = server_tmp_path / "space"
    location.mkdir()
    os.chown(location, *_postgres_ids())
    execute(pg, "DROP DATABASE IF EXISTS corral_hot_r", "DROP TABLESPACE IF EXISTS corral_space_r",
            f"CREATE TABLESPACE corral_space_r LOCATION '{location}'", "CREATE DATABASE corral_hot_r")
    execute(pg, "CREATE TABLE posts (id int PRIMARY KEY, title text)",
            "INSERT INTO posts SELECT g, md5(g::text) FROM generate_series(1, 5000) g",
            "CREATE TABLE elsewhere (note text) TABLESPACE corral_space_r",
            "INSERT INTO elsewhere VALUES ('in the extra tablespace')", dbname="corral_hot_r")
    try:
        backups = tmp_path / "b"
        text = f"""\
- job: pg-hot-r
  type: postgresql_hot
  sources:
  - connect:
{tools.connect_yaml(pg)}    compression: zstd
  storages:
  - storage: local
    backup_dir: {backups}
"""
        result = corral.start(text)
        assert result.code == 0, result.stderr
        execute(pg, "INSERT INTO posts VALUES (0, 'after the backup')", dbname="corral_hot_r")
        refused = restore(corral, "pg-hot-r", "basebackup")
        assert refused.returncode != 0
        assert "a physical backup is restored into a folder: give --to DIR" in refused.stderr
        restored = server_tmp_path / "restored"
        restored.mkdir(mode=0o755)
        data = restored / "data"
        done = restore(corral, "pg-hot-r", "basebackup", "--to", str(data))
        assert done.returncode == 0, done.stderr
        assert "extracted `base.tar.zst`" in done.stdout and "extracted `pg_wal.tar.zst`" in done.stdout
        assert oct(data.stat().st_mode & 0o777) == "0o700" and data.stat().st_uid == _postgres_ids()[0]
        os.chown(restored, *_postgres_ids())

        with tools.serve(pg, data, restored) as copy:
            query = "SELECT count(*), md5(string_agg(title, ',' ORDER BY id)) FROM posts"
            assert tools.psql(copy, "corral_hot_r", query, socket=True) == tools.psql(
                pg, "corral_hot_r", query + " WHERE id > 0")
            assert tools.psql(copy, "corral_hot_r", "SELECT note FROM elsewhere", socket=True) == \
                "in the extra tablespace\n"
    finally:
        execute(pg, "DROP DATABASE IF EXISTS corral_hot_r", "DROP TABLESPACE IF EXISTS corral_space_r")


def _postgres_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def test_plain_sql_and_fetch_to_a_folder(pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path) -> None:
    """A plain SQL dump (gzip) loads with psql; --to fetches the archive as it is, for the tools by hand."""
    fresh(pg, "corral_r6", rows=77)
    text = job("pg-r6", tmp_path / "b", tools.connect_yaml(pg), "[corral_r6]").replace(
        "    compression: zstd\n", "    compression: gzip\n    format: plain\n")
    assert corral.start(text).code == 0
    try:
        done = restore(corral, "pg-r6", "corral_r6", "--as", "corral_r6_copy", "--jobs", "2")
        assert done.returncode == 0, done.stderr
        assert "with psql in" in done.stdout and "--jobs: a plain SQL dump is loaded by one psql" in done.stdout
        assert tools.dump_text(pg, "corral_r6_copy") == tools.dump_text(pg, "corral_r6")
        fetched = restore(corral, "pg-r6", "corral_r6", "--to", str(tmp_path / "out"))
        assert fetched.returncode == 0, fetched.stderr
        assert [p.name for p in (tmp_path / "out").iterdir()] == [f"corral_r6_{tools.STAMP}.sql.gz"]
        assert "fetched, not restored" in fetched.stdout
    finally:
        execute(pg, "DROP DATABASE IF EXISTS corral_r6", "DROP DATABASE IF EXISTS corral_r6_copy")
