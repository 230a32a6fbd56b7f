"""``postgresql`` end to end: the real ``corral start`` dumps a real PostgreSQL 15, and the archives restore with
the standard tools (pg_restore, psql) into another server with the same schema and data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from corral_testservers import Postgres


def job(name: str, backup_dir: Path, sources: str) -> str:
    return f"""\
- job: {name}
  type: postgresql
  sources:
{sources}  storages:
  - storage: local
    backup_dir: {backup_dir}
    store: {{days: 6, weeks: 4, month: 6}}
"""


def test_all_databases_restore_with_pg_restore(
    pg: Postgres, restore_pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path
) -> None:
    """`target: all` minus excludes, custom format through zstd: globals then each database restore into a
    fresh server, and a pg_dump of each restored database equals the original's, roles included."""
    backups = tmp_path / "backups"
    sources = f"""\
  - connect:
{tools.connect_yaml(pg)}    target: [all]
    excludes: [postgres, corral_skip]
    compression: zstd
"""
    result = corral.start(job("pg", backups, sources))
    assert result.code == 0, result.stderr
    stored = corral.stored(backups)
    shop = backups / "pg" / "corral_shop" / f"corral_shop_{tools.STAMP}.dump.zst"
    blog = backups / "pg" / "corral_blog" / f"corral_blog_{tools.STAMP}.dump.zst"
    globals_sql = backups / "pg" / "globals" / f"globals_{tools.STAMP}.sql.zst"
    assert {shop.name, blog.name, globals_sql.name} <= set(stored)
    assert not any(name.startswith(("corral_skip", "postgres_", "template")) for name in stored)
    assert shop.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"  # a zstd frame, not pg_dump's own compression

    restore = tools.shell(f"zstd -dc {globals_sql} | psql -X -q -d postgres", restore_pg, socket=True)
    assert restore.returncode == 0, restore.stderr
    for archive in (shop, blog):
        restore = tools.shell(f"zstd -dc {archive} | pg_restore -C -d postgres", restore_pg, socket=True)
        assert restore.returncode == 0, restore.stderr

    for dbname in ("corral_shop", "corral_blog"):
        assert tools.dump_text(restore_pg, dbname, socket=True) == tools.dump_text(pg, dbname)
    check = f"SELECT rolpassword FROM pg_authid WHERE rolname = '{tools.OWNER}'"
    assert tools.psql(restore_pg, "postgres", check, socket=True) == tools.psql(pg, "postgres", check)
    # what a user would look at: the blobs, the big row, the sequence, the function, the view, the owner
    for sql in ("SELECT md5(string_agg(coalesce(md5(data), 'null'), ',' ORDER BY id)) FROM blobs",
                "SELECT length(body), md5(body) FROM sales.notes",
                "SELECT last_value FROM sales.invoice_no",
                "SELECT sales.total('Zoë 🐄 مرحبا 漢字'), count(*) FROM sales.big_orders",
                'SELECT wert FROM "Ärger ünicode"."Tabelle ✓" ORDER BY 1',
                "SELECT tableowner FROM pg_tables WHERE tablename = 'orders'"):
        assert tools.psql(restore_pg, "corral_shop", sql, socket=True) == tools.psql(pg, "corral_shop", sql)
    assert tools.psql(restore_pg, "corral_shop", "SELECT last_value FROM sales.invoice_no", socket=True) == "1006\n"


def test_plain_sql_with_gzip_restores_with_psql(
    pg: Postgres, restore_pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    sources = f"""\
  - connect:
{tools.connect_yaml(pg)}    target: [corral_shop]
    format: plain
    gzip: yes
    globals: no
"""
    result = corral.start(job("pg-plain", backups, sources))
    assert result.code == 0, result.stderr
    stored = corral.stored(backups)
    assert set(stored) == {f"corral_shop_{tools.STAMP}.sql.gz"}
    tools.psql(restore_pg, "postgres", "DROP DATABASE IF EXISTS corral_plain", socket=True)
    tools.psql(restore_pg, "postgres", f"CREATE ROLE {tools.OWNER}" if not tools.psql(
        restore_pg, "postgres", f"SELECT 1 FROM pg_roles WHERE rolname = '{tools.OWNER}'", socket=True
    ) else "SELECT 1", socket=True)
    tools.psql(restore_pg, "postgres", f"CREATE DATABASE corral_plain OWNER {tools.OWNER}", socket=True)
    archive = stored[f"corral_shop_{tools.STAMP}.sql.gz"]
    restore = tools.shell(f"gunzip -c {archive} | psql -X -q -v ON_ERROR_STOP=1 -d corral_plain", restore_pg,
                          socket=True)
    assert restore.returncode == 0, restore.stderr
    assert tools.dump_text(restore_pg, "corral_plain", socket=True) == tools.dump_text(pg, "corral_shop")


def test_wrong_password_fails_that_source_only(
    pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path
) -> None:
    """Source 1 has a wrong password: one line names the job, the source and the cause; source 2 (a pgpass
    auth_file) still runs. Per-server archives of a job with several sources carry the server in their name."""
    backups = tmp_path / "backups"
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"{pg.host}:{pg.port}:*:{pg.user}:{pg.password}\n")
    pgpass.chmod(0o600)
    wrong = "not-the-password-31337"
    sources = f"""\
  - connect:
{tools.connect_yaml(pg, password=wrong)}    target: [all]
  - connect:
      db_host: {pg.host}
      db_port: {pg.port}
      db_user: {pg.user}
      auth_file: {pgpass}
    target: [corral_blog]
    compression: zstd
"""
    result = corral.start(job("pg-two", backups, sources))
    assert result.code == 1
    errors = [line for line in result.stderr.splitlines() if "[ERROR]" in line and "source 1" in line]
    assert len(errors) == 1, result.stderr
    assert "[pg-two]" in errors[0]
    assert f"`{pg.user}@{pg.host}:{pg.port}`: cannot connect" in errors[0]
    assert "password authentication failed" in errors[0]
    assert wrong not in result.stderr + result.log
    prefix = f"127.0.0.1_{pg.port}_2_"  # both sources use the same server: their position tells them apart
    expected = {f"corral_blog_{tools.STAMP}.dump.zst", f"{prefix}globals_{tools.STAMP}.sql.zst"}
    assert set(corral.stored(backups)) == expected


def test_missing_database_and_unreachable_server(
    pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    present = f"""\
  - connect:
{tools.connect_yaml(pg)}    target: [no_such_db, corral_blog]
    globals: no
"""
    down = """\
  - connect:
      db_host: 127.0.0.1
      db_port: 1
      db_user: postgres
      db_password: whatever
"""
    result = corral.start(job("pg-missing", backups, present) + job("pg-down", backups, down))
    assert result.code == 1
    assert set(corral.stored(backups)) == {f"corral_blog_{tools.STAMP}.dump"}
    errors = [line for line in result.stderr.splitlines() if "[ERROR]" in line and "source 1:" in line]
    assert any("[pg-missing]" in e and "target no_such_db: database `no_such_db` does not exist" in e for e in errors)
    assert any("[pg-down]" in e and "`postgres@127.0.0.1:1`: cannot connect" in e and "refused" in e for e in errors)


def test_missing_client_programs_are_named(pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path) -> None:
    sources = f"""\
  - connect:
{tools.connect_yaml(pg)}"""
    result = corral.start(job("pg-nobin", tmp_path / "b", sources + "\n"), env={"PATH": str(tmp_path / "empty")})
    assert result.code == 1
    assert "source 1: `psql` is not installed (apt install postgresql-client)" in result.stderr


def test_password_never_in_process_arguments(pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path) -> None:
    """While pg_dump waits on a lock, no process's arguments hold the password; pg_dump reads it from a 0600
    PGPASSFILE (no PGPASSWORD in its environment) that is gone after the run."""
    import psycopg

    backups = tmp_path / "backups"
    sources = f"""\
  - connect:
{tools.connect_yaml(pg)}    target: [corral_shop]
    compression: zstd
"""
    jobs = job("pg-ps", backups, sources)
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "jobs.conf").write_text(jobs)
    main = tmp_path / "corral.conf"
    main.write_text(f"main:\n  general_path_to_all_tmp_dir: {tmp_path / 'tmp'}\n  lock_file: {tmp_path / 'lock'}\n"
                    "jobs: !include [conf.d/*.conf]\n")
    with psycopg.connect(**{**pg.connect_kwargs(), "dbname": "corral_shop"}) as holder:
        holder.execute("LOCK TABLE sales.orders IN ACCESS EXCLUSIVE MODE")
        process = corral.popen(main, "pg-ps")
        seen = _wait_for_pg_dump(process.pid)
        passfile = Path(seen["environ"]["PGPASSFILE"])
        assert passfile.stat().st_mode & 0o777 == 0o600
        assert passfile.parent.is_relative_to(tmp_path / "tmp")
        assert "PGPASSWORD" not in seen["environ"]
        everyone = _all_cmdlines()
        holder.rollback()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert not passfile.exists()
    assert pg.password not in "\n".join(everyone)
    assert any("pg_dump" in line for line in everyone)
    assert pg.password not in stderr


def _wait_for_pg_dump(parent: int, timeout: float = 60) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
                environ = (proc / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"--version" in cmdline:  # the facts' `pg_dump --version` (no connection, no PGPASSFILE)
                continue
            if cmdline and cmdline[0].endswith(b"pg_dump") and _descends_from(proc, parent):
                env = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
                if env:  # read in the middle of its exec, the environment is empty: look again
                    return {"cmdline": cmdline, "environ": env}
        time.sleep(0.05)
    raise AssertionError("pg_dump never started")


def _descends_from(proc: Path, ancestor: int) -> bool:
    pid = int(proc.name)
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return False


def _all_cmdlines() -> list[str]:
    lines = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                lines.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
    return lines


def test_generated_templates_validate(tmp_path: Path) -> None:
    """`corral generate` writes the article's template for both types, and it validates as it is."""
    corral = Path(sys.executable).parent / "corral"
    (tmp_path / "conf.d").mkdir()
    for job_type in ("postgresql", "postgresql_hot"):
        path = tmp_path / "conf.d" / f"{job_type}.conf"
        done = subprocess.run([corral, "generate", "--type", job_type, "--storage", "local", "--path", path],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        text = path.read_text()
        for key in ("db_host:", "db_port:", "socket:", "db_user:", "db_password:", "auth_file:", "gzip:",
                    "compression:", "extra_keys:"):
            assert key in text
    (generated,) = yaml.safe_load((tmp_path / "conf.d" / "postgresql.conf").read_text())
    assert generated["sources"][0]["target"] == ["all"]
    assert generated["sources"][0]["excludes"] == ["postgres"]
    assert generated["sources"][0]["connect"]["db_port"] == 5432
    main = tmp_path / "corral.conf"
    main.write_text(f"main:\n  general_path_to_all_tmp_dir: {tmp_path}\njobs: !include [conf.d/*.conf]\n")
    done = subprocess.run([corral, "check", "-c", main], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "ok (2 job(s))" in done.stdout


def test_a_failing_database_does_not_stop_the_others(
    pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path
) -> None:
    """A role that cannot read one table: that database's pg_dump fails half way while zstd exits cleanly, so
    its partial archive is dropped and reported; the globals (superuser only) fail the same way; the readable
    database is stored."""
    import psycopg

    with psycopg.connect(**pg.connect_kwargs(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'corral_reader'").fetchone():
            conn.execute("CREATE ROLE corral_reader LOGIN PASSWORD 'reader-pw-5150'")
        conn.execute("DROP DATABASE IF EXISTS corral_private")
        conn.execute("CREATE DATABASE corral_private")
    with psycopg.connect(**{**pg.connect_kwargs(), "dbname": "corral_private"}, autocommit=True) as conn:
        conn.execute("CREATE TABLE open_data AS SELECT g FROM generate_series(1, 100) g")
        conn.execute("CREATE TABLE secrets AS SELECT g FROM generate_series(1, 100) g")
        conn.execute("GRANT SELECT ON open_data TO corral_reader")
    with psycopg.connect(**{**pg.connect_kwargs(), "dbname": "corral_blog"}, autocommit=True) as conn:
        conn.execute("GRANT SELECT ON posts TO corral_reader")
    backups = tmp_path / "backups"
    sources = f"""\
  - connect:
      db_host: {pg.host}
      db_port: {pg.port}
      db_user: corral_reader
      db_password: reader-pw-5150
    target: [corral_private, corral_blog]
    compression: zstd
"""
    result = corral.start(job("pg-perm", backups, sources))
    assert result.code == 1
    assert set(corral.stored(backups)) == {f"corral_blog_{tools.STAMP}.dump.zst"}
    errors = [line for line in result.stderr.splitlines() if "[ERROR]" in line and "[pg-perm] source 1:" in line]
    assert any("target corral_private: pg_dump of `corral_private`" in e and "permission denied" in e for e in errors)
    assert any("target globals: pg_dumpall --globals-only" in e and "permission denied" in e for e in errors)
    assert not list((tmp_path / "tmp").rglob("*.zst"))
