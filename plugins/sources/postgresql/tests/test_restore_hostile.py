"""A dump or globals file altered on the storage (a hostile storage admin, or a broken one) is SQL for the server
and nothing more: psql, which corral feeds plain SQL dumps and globals to as root, runs none of its meta-commands
(``\\!`` runs a shell, ``\\o``/``\\w`` write files, ``\\i`` reads them)."""

from __future__ import annotations

import gzip
import importlib.util
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg

from corral_source_postgresql.restricted import Guard, restricts
from corral_testservers import Postgres

_spec = importlib.util.spec_from_file_location("pg_test_restore", Path(__file__).with_name("test_restore.py"))
assert _spec is not None and _spec.loader is not None
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)  # the restore tests' helpers (pytest's importlib mode puts no tests on sys.path)
execute, fresh, job, restore = _helpers.execute, _helpers.fresh, _helpers.job, _helpers.restore


def tampered(path: Path, marks: list[Path]) -> None:
    """Append shell escapes to a gzip or zstd SQL archive, as whoever can write the storage could."""
    if path.name.endswith(".gz"):
        sql = gzip.decompress(path.read_bytes())
    else:
        sql = subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True).stdout
    sql = b"\n".join(line for line in sql.split(b"\n") if not line.startswith((b"\\restrict", b"\\unrestrict")))
    sql += "".join(f"\n\\! touch {mark}\n" for mark in marks).encode() + b"\nSELECT 1;\n"
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(sql))
    else:
        path.write_bytes(subprocess.run(["zstd", "-c"], input=sql, capture_output=True, check=True).stdout)


def test_a_tampered_plain_dump_or_globals_file_runs_no_shell(pg: Postgres, corral: Any, tools: SimpleNamespace,
                                                              tmp_path: Path) -> None:  # fmt: skip
    fresh(pg, "corral_h1", rows=7)
    text = job("pg-h1", tmp_path / "b", tools.connect_yaml(pg), "[corral_h1]").replace(
        "    compression: zstd\n", "    compression: gzip\n    format: plain\n")
    assert corral.start(text).code == 0
    marks = [tmp_path / "ran-dump", tmp_path / "ran-globals"]
    for name, path in corral.stored(tmp_path / "b").items():
        tampered(path, [marks[0] if name.startswith("corral_h1_") else marks[1]])
    try:
        done = restore(corral, "pg-h1", "corral_h1", "--as", "corral_h1_copy", "--with-globals")
        assert "Traceback" not in done.stderr, done.stderr
        assert [m.name for m in marks if m.exists()] == [], (done.stdout, done.stderr)
    finally:
        execute(pg, "DROP DATABASE IF EXISTS corral_h1", "DROP DATABASE IF EXISTS corral_h1_copy")


def test_the_guard_drops_only_pg_dumps_own_restrict_pair_across_chunk_cuts() -> None:
    dump = (b"--\n-- PostgreSQL database dump\n--\n\n\\restrict abcDEF123\n\nSET x = 1;\nCOPY t (v) FROM stdin;\n"
            b"\\restrict data-row\n\\unrestrict data-row\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n"
            b"\\unrestrict abcDEF123\n\n")
    for size in (1, 2, 3, 7, 64, len(dump)):
        guard = Guard()
        out = b"".join(guard.feed(dump[at:at + size]) for at in range(0, len(dump), size)) + guard.feed(b"", True)
        assert out == (f"\\restrict {guard.key}\n".encode() + dump.replace(b"\\restrict abcDEF123\n", b"")
                       .replace(b"\\unrestrict abcDEF123\n", b"")), size
    # whatever an altered archive adds stays, behind our restrict: psql refuses it
    hostile = b"\\unrestrict x\n\\! id\nSELECT 1;\n\\unrestrict y\n\\! id\n"
    guard = Guard()
    assert guard.feed(hostile, True) == f"\\restrict {guard.key}\n".encode() + hostile


def test_a_template_database_is_never_restored_into(pg: Postgres, corral: Any, tools: SimpleNamespace,
                                                    tmp_path: Path) -> None:  # fmt: skip
    """`--as template1` held no table, so restore loaded the dump into it: every database created after would
    have started with the backup's tables."""
    fresh(pg, "corral_h2", rows=3)
    assert corral.start(job("pg-h2", tmp_path / "b", tools.connect_yaml(pg), "[corral_h2]")).code == 0
    try:
        for extra in ((), ("--force",)):
            done = restore(corral, "pg-h2", "corral_h2", "--as", "template1", *extra)
            assert done.returncode == 1, (done.stdout, done.stderr)
            assert "`template1` on" in done.stderr and "is a template database" in done.stderr, done.stderr
        with psycopg.connect(**{**pg.connect_kwargs(), "dbname": "template1"}) as conn:
            assert conn.execute("SELECT count(*) FROM pg_class WHERE relname = 'posts'").fetchone() == (0,)
    finally:
        execute(pg, "DROP DATABASE IF EXISTS corral_h2")


def test_a_database_with_views_or_functions_but_no_table_is_not_empty(pg: Postgres, corral: Any,
                                                                      tools: SimpleNamespace, tmp_path: Path) -> None:
    """Restore called a database without tables empty and loaded into it without --force: the dump merged into
    someone's views and functions (or stopped half-way on a name both had)."""
    fresh(pg, "corral_h3", rows=3)
    assert corral.start(job("pg-h3", tmp_path / "b", tools.connect_yaml(pg), "[corral_h3]")).code == 0
    execute(pg, "DROP DATABASE IF EXISTS corral_h3_live", "CREATE DATABASE corral_h3_live")
    execute(pg, "CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS 'SELECT 42'", dbname="corral_h3_live")
    try:
        done = restore(corral, "pg-h3", "corral_h3", "--as", "corral_h3_live")
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert "with no table but 1 view(s), sequence(s) or function(s): not touched" in done.stderr, done.stderr
        with psycopg.connect(**{**pg.connect_kwargs(), "dbname": "corral_h3_live"}) as conn:
            assert conn.execute("SELECT count(*) FROM pg_class WHERE relname = 'posts'").fetchone() == (0,)
        forced = restore(corral, "pg-h3", "corral_h3", "--as", "corral_h3_live", "--force")
        assert forced.returncode == 0, forced.stderr
        # an empty database made as admins make them (from template1) is still loaded into
        execute(pg, "DROP DATABASE corral_h3_live", "CREATE DATABASE corral_h3_live")
        again = restore(corral, "pg-h3", "corral_h3", "--as", "corral_h3_live")
        assert again.returncode == 0 and "holds no table: restoring into it" in again.stdout, again.stderr
    finally:
        execute(pg, "DROP DATABASE IF EXISTS corral_h3", "DROP DATABASE IF EXISTS corral_h3_live")


def test_a_psql_older_than_restrict_is_told_apart(tmp_path: Path) -> None:
    """Our `\\restrict` line would fail every plain restore with a psql from before the minor releases that brought
    it: such a psql gets the stream without it (the restore says so)."""
    for version, knows in (("15.13", False), ("15.14", True), ("17.6", True), ("16.9", False), ("13.22", True),
                           ("12.22", False), ("18.0", True), ("19devel", True)):
        fake = tmp_path / f"psql-{version}"
        fake.write_text(f"#!/bin/sh\necho 'psql (PostgreSQL) {version} (Debian {version}-1.pgdg120+1)'\n")
        fake.chmod(0o755)
        assert restricts(str(fake)) is knows, version
    assert restricts(str(tmp_path / "missing")) is False
    assert Guard(restrict=False).feed(b"\\restrict abc\nSELECT 1;\n\\unrestrict abc\n", True) == b"SELECT 1;\n"
