"""A dump altered on the storage (a hostile storage admin, or a broken one) loads as SQL into the named database
and nothing more: the mariadb client corral feeds it to (as root, in restores and drills) runs no shell command
(``\\!``, ``system``), even with the dump's own sandbox line removed."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

from mysql_testkit import CORRAL, drop, execute, local_storage, write_config

from corral_testservers import MariaDB

NOW = "2026-01-31T03:00:00"


def corral(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CORRAL), *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CORRAL_NOW": NOW})


def evil_job(server: MariaDB, tmp_path: Path, database: str) -> Path:
    return write_config(tmp_path, [{
        "job": "evil", "type": "mysql",
        "sources": [{"connect": {"db_host": "127.0.0.1", "db_port": server.port, "db_user": server.user,
                                 "db_password": server.password}, "target": [database], "compression": "zstd"}],
        "storages": [local_storage(tmp_path / "backups")],
    }])  # fmt: skip


def backed_up(server: MariaDB, tmp_path: Path, database: str, *statements: str) -> Path:
    """A job of ``database`` (made anew with ``statements``) and one real ``corral start`` of it."""
    config = evil_job(server, tmp_path, database)
    drop(server, database)
    execute(server, f"CREATE DATABASE {database}", *statements)
    assert corral("start", "-c", str(config), "evil").returncode == 0
    return config


def fix_manifest(job_dir: Path, archive: Path) -> None:
    """The manifest entry of ``archive`` rewritten to its altered size and checksum."""
    [record] = (job_dir / ".manifests").glob("*.json")
    manifest = json.loads(record.read_text())
    [entry] = [e for e in manifest["archives"] if e["path"].endswith(archive.name)]
    data = archive.read_bytes()
    entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    record.write_text(json.dumps(manifest))


def test_a_tampered_dump_runs_no_shell_command(mariadb_server: MariaDB, tmp_path: Path) -> None:
    drop(mariadb_server, "h_copy")
    config = backed_up(mariadb_server, tmp_path, "h_shop", "CREATE TABLE h_shop.t (v TEXT)",
                       "INSERT INTO h_shop.t VALUES ('x')")
    try:
        (archive,) = (tmp_path / "backups" / "evil" / "h_shop").glob("h_shop_*.sql.zst")
        sql = subprocess.run(["zstd", "-dc", str(archive)], capture_output=True, check=True).stdout
        sql = sql.replace(b"/*M!999999\\- enable the sandbox mode */", b"")  # the dump's own guard, removed
        marks = [tmp_path / f"ran-{n}" for n in range(3)]
        sql += f"\n\\! touch {marks[0]}\nsystem touch {marks[1]}\n\\T {marks[2]}\nSELECT 1;\n".encode()
        archive.write_bytes(subprocess.run(["zstd", "-c"], input=sql, capture_output=True, check=True).stdout)
        fix_manifest(tmp_path / "backups" / "evil", archive)  # as the attacker would: only the SQL is refused

        done = corral("restore", "evil", "--target", "h_shop", "--as", "h_copy", "-c", str(config))
        assert "Traceback" not in done.stderr, done.stderr
        assert [m.name for m in marks if m.exists()] == [], (done.stdout, done.stderr)
        assert done.returncode == 1 and "dropped the half-loaded database" in done.stderr, "the escapes are SQL errors"
    finally:
        drop(mariadb_server, "h_shop", "h_copy")


def test_a_password_in_into_is_refused_without_echoing_it(mariadb_server: MariaDB, tmp_path: Path) -> None:
    """`--into USER:PASSWORD@HOST` would put the password in the client's arguments (`ps`) and in the lines
    corral prints: refused in one line that does not repeat it, before any program runs."""
    config = evil_job(mariadb_server, tmp_path, "h_pw")
    drop(mariadb_server, "h_pw", "h_pw2")
    execute(mariadb_server, "CREATE DATABASE h_pw", "CREATE TABLE h_pw.t (v TEXT)")
    try:
        assert corral("start", "-c", str(config), "evil").returncode == 0
        for into in (f"{mariadb_server.user}:Typed-Pw-4711@127.0.0.1:{mariadb_server.port}",
                     f"mysql://{mariadb_server.user}:Typed-Pw-4711@127.0.0.1"):
            for extra in ((), ("--dry-run",)):
                done = corral("restore", "evil", "--target", "h_pw", "--as", "h_pw2", "--into", into, *extra,
                              "-c", str(config))
                assert done.returncode == 2, (done.stdout, done.stderr)
                assert "Typed-Pw-4711" not in done.stdout + done.stderr
                assert done.stderr.startswith("corral: error: --into holds a password"), done.stderr
        assert execute(mariadb_server, "SHOW DATABASES LIKE 'h_pw2'") == []
    finally:
        drop(mariadb_server, "h_pw", "h_pw2")


def test_an_empty_as_never_means_the_original_database(mariadb_server: MariaDB, tmp_path: Path) -> None:
    """`--as "$NEW" --force` with NEW unset dropped and reloaded the original database; a name with a newline
    split corral's lines. Both are refused before anything is touched."""
    config = evil_job(mariadb_server, tmp_path, "h_orig")
    drop(mariadb_server, "h_orig")
    execute(mariadb_server, "CREATE DATABASE h_orig", "CREATE TABLE h_orig.t (v TEXT)")
    try:
        assert corral("start", "-c", str(config), "evil").returncode == 0
        execute(mariadb_server, "INSERT INTO h_orig.t VALUES ('written after the backup')")
        before = execute(mariadb_server, "SHOW DATABASES")
        for name in ("", " ", "a\nb"):
            done = corral("restore", "evil", "--target", "h_orig", "--as", name, "--force", "-c", str(config))
            assert done.returncode == 2, (name, done.stdout, done.stderr)
            assert len(done.stderr.splitlines()) == 1 and "names no database" in done.stderr, done.stderr
        assert execute(mariadb_server, "SELECT v FROM h_orig.t") == [("written after the backup",)]
        assert execute(mariadb_server, "SHOW DATABASES") == before
    finally:
        drop(mariadb_server, "h_orig")


def test_a_database_with_only_a_routine_is_not_empty(mariadb_server: MariaDB, tmp_path: Path) -> None:
    """The dump's `DROP PROCEDURE IF EXISTS` replaced a routine of the same name in a database without tables,
    which restore called empty and loaded into without --force."""
    drop(mariadb_server, "h_live")
    config = backed_up(mariadb_server, tmp_path, "h_rt", "CREATE TABLE h_rt.t (v INT)",
                       "CREATE PROCEDURE h_rt.answer() SELECT 1")
    try:
        execute(mariadb_server, "CREATE DATABASE h_live", "CREATE PROCEDURE h_live.answer() SELECT 42")
        done = corral("restore", "evil", "--target", "h_rt", "--as", "h_live", "-c", str(config))
        assert done.returncode == 2, (done.stdout, done.stderr)
        assert "holds 0 tables, 1 routine or event: left as it is" in done.stderr, done.stderr
        assert execute(mariadb_server, "SELECT ROUTINE_DEFINITION FROM information_schema.ROUTINES "
                       "WHERE ROUTINE_SCHEMA = 'h_live'") == [("SELECT 42",)]
    finally:
        drop(mariadb_server, "h_rt", "h_live")
