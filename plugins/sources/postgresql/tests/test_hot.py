"""``postgresql_hot`` end to end: the real ``corral start`` takes a base backup of a running PostgreSQL 15 with two
tablespaces, the archive is unpacked into a fresh data directory as the README says, and a server started on it
holds the data as it was at backup time."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest

from corral_testservers import Postgres


def hot_job(name: str, backup_dir: Path, connect: str, extra: str = "") -> str:
    return f"""\
- job: {name}
  type: postgresql_hot
  sources:
  - connect:
{connect}{extra}  storages:
  - storage: local
    backup_dir: {backup_dir}
"""


@pytest.fixture
def hot_data(pg: Postgres, server_tmp_path: Path) -> Iterator[Path]:
    """A database with one table in the default tablespace and one in an extra tablespace (dropped after)."""
    location = server_tmp_path / "tablespace"
    location.mkdir()
    shutil.chown(location, "postgres", "postgres")
    with psycopg.connect(**pg.connect_kwargs(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS corral_hot")
        conn.execute(f"CREATE TABLESPACE corral_space LOCATION '{location}'")
        conn.execute("CREATE DATABASE corral_hot")
    with psycopg.connect(**{**pg.connect_kwargs(), "dbname": "corral_hot"}, autocommit=True) as conn:
        conn.execute("CREATE TABLE facts (id int PRIMARY KEY, body text, blob bytea)")
        conn.execute("INSERT INTO facts SELECT g, 'ünïcødé ' || g, decode(md5(g::text), 'hex') "
                     "FROM generate_series(1, 20000) g")
        conn.execute("CREATE TABLE elsewhere (id int, note text) TABLESPACE corral_space")
        conn.execute("INSERT INTO elsewhere VALUES (1, 'in the extra tablespace')")
    yield location
    with psycopg.connect(**pg.connect_kwargs(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS corral_hot")
        conn.execute("DROP TABLESPACE IF EXISTS corral_space")


def test_base_backup_restores_into_a_fresh_data_directory(
    pg: Postgres, hot_data: Path, corral: Any, tools: SimpleNamespace, tmp_path: Path, server_tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    result = corral.start(hot_job("pg-hot", backups, tools.connect_yaml(pg), "    compression: zstd\n"))
    assert result.code == 0, result.stderr
    # written after the backup: the restored server must not have it
    tools.psql(pg, "corral_hot", "INSERT INTO facts VALUES (0, 'after the backup', NULL)")
    (archive,) = corral.stored(backups).values()
    assert archive.name == f"basebackup_{tools.STAMP}.tar"
    (entry,) = json.loads((backups / "pg-hot" / ".manifests" / f"{tools.STAMP}.json").read_text())["archives"]
    size = int(tools.psql(pg, "postgres", "SELECT pg_database_size('corral_hot')"))
    assert entry["facts"]["databases"]["corral_hot"]["bytes"] == pytest.approx(size, rel=0.05)
    assert entry["facts"]["tool"].startswith("pg_basebackup (PostgreSQL) ")
    assert entry["facts"]["server"] == tools.psql(pg, "postgres", "SHOW server_version").strip()
    with tarfile.open(archive) as outer:
        names = sorted(outer.getnames())
    tablespace_oid = tools.psql(pg, "postgres", "SELECT oid FROM pg_tablespace WHERE spcname = 'corral_space'").strip()
    assert names == sorted(["backup_manifest", "base.tar.zst", "pg_wal.tar.zst", f"{tablespace_oid}.tar.zst"])

    # The README's restore steps, in a fresh data directory and tablespace folder owned by postgres.
    restored = server_tmp_path / "restored"
    unpacked, data, space = restored / "unpacked", restored / "data", restored / "space"
    for folder in (restored, unpacked, data, space):
        folder.mkdir(mode=0o700)
    steps = f"""
        tar -xf {archive} -C {unpacked}
        tar -xf {unpacked}/base.tar.zst -C {data}
        tar -xf {unpacked}/pg_wal.tar.zst -C {data}/pg_wal
        tar -xf {unpacked}/{tablespace_oid}.tar.zst -C {space}
        sed -i 's|^{tablespace_oid} .*|{tablespace_oid} {space}|' {data}/tablespace_map
        chown -R postgres:postgres {restored}
    """
    done = subprocess.run(["bash", "-e", "-c", steps], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr

    with tools.serve(pg, data, restored) as copy:
        query = "SELECT count(*), min(id), md5(string_agg(body || encode(blob, 'hex'), ',' ORDER BY id)) FROM facts"
        expected = tools.psql(pg, "corral_hot", query + " WHERE id > 0")
        assert tools.psql(copy, "corral_hot", query, socket=True) == expected
        assert tools.psql(copy, "corral_hot", "SELECT note FROM elsewhere", socket=True) == "in the extra tablespace\n"
        location = tools.psql(copy, "postgres", "SELECT pg_tablespace_location(oid) FROM pg_tablespace "
                              "WHERE spcname = 'corral_space'", socket=True)
        assert location.strip() == str(space)


def test_gzip_and_wrong_password(pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path) -> None:
    """gzip compresses every piece (PostgreSQL compresses the WAL too); a wrong password fails its source in one
    line naming the job, the source and the cause."""
    backups = tmp_path / "backups"
    good = hot_job("hot-gz", backups, tools.connect_yaml(pg), "    gzip: yes\n")
    bad = hot_job("hot-bad", backups, tools.connect_yaml(pg, password="wrong-pass-777"))
    result = corral.start(good + bad)
    assert result.code == 1
    (archive,) = corral.stored(backups).values()
    with tarfile.open(archive) as outer:
        names = set(outer.getnames())
        base = outer.extractfile("base.tar.gz")
        assert base is not None
        with tarfile.open(fileobj=base, mode="r:gz") as inner:
            assert "PG_VERSION" in inner.getnames()
    assert {"base.tar.gz", "pg_wal.tar.gz", "backup_manifest"} <= names
    errors = [line for line in result.stderr.splitlines() if "[ERROR]" in line and "[hot-bad] source 1:" in line]
    assert len(errors) == 1, result.stderr
    assert "pg_basebackup from" in errors[0] and "password authentication failed" in errors[0]
    assert "wrong-pass-777" not in result.stderr + result.log
