"""``corral drill`` of ``postgresql`` and ``postgresql_hot`` jobs: the real ``corral start`` backs up the session's
PostgreSQL 15, the real ``corral drill`` restores the newest backup into a throwaway server it starts in its
scratch folder, compares tables and rows (databases and sizes) with the manifest's facts, runs the checks, and
leaves no server and no folder behind, SIGTERM included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest

from corral_testservers import Postgres

CORRAL = Path(os.environ.get("VIRTUAL_ENV", "/work/main/.venv")) / "bin" / "corral"


def dump_job(backups: Path, tmp_dir: Path, connect: str, drill: str = "", job_type: str = "postgresql") -> str:
    target = "    target: [corral_shop, corral_blog]\n    compression: zstd\n" if job_type == "postgresql" else ""
    return f"""\
- job: pg
  type: {job_type}
  tmp_dir: {tmp_dir}
{drill}  sources:
  - connect:
{connect}{target}  storages:
  - storage: local
    backup_dir: {backups}
"""


def job_tmp(server_tmp_path: Path) -> Path:
    """The job's tmp_dir where the postgres user can traverse to its scratch folders (0711)."""
    folder = server_tmp_path / "t"
    folder.mkdir(mode=0o711)
    folder.chmod(0o711)
    return folder


def drill(corral: Any, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(CORRAL), "drill", "pg", "-c", str(corral.tmp_path / "corral.conf"), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)


def left_under(folder: Path) -> list[str]:
    """Processes whose working folder is under ``folder`` (a postgres and its backends), and files left."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if cwd.startswith(str(folder)):
                found.append(f"pid {entry.name} in {cwd}")
    return found + [str(path) for path in folder.iterdir()]


def backed_up(pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path, server_tmp_path: Path,
              drill_yaml: str = "") -> Path:  # fmt: skip
    tmp_dir = job_tmp(server_tmp_path)
    done = corral.start(dump_job(tmp_path / "b", tmp_dir, tools.connect_yaml(pg), drill_yaml))
    assert done.code == 0, done.stderr + done.log
    return tmp_dir


def test_a_good_dump_passes_names_tables_and_rows_and_leaves_nothing(
    pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path, server_tmp_path: Path
) -> None:
    checks = ("  drill:\n    checks:\n"
              "      - sql: SELECT 1 FROM sales.orders WHERE customer = 'customer 42'\n"
              "        target: corral_shop\n"
              "      - command: test \"$(psql -X -A -t -c 'SELECT count(*) FROM posts')\" = 300\n"
              "        target: corral_blog\n")  # fmt: skip
    tmp_dir = backed_up(pg, corral, tools, tmp_path, server_tmp_path, checks)
    done = drill(corral, "--verbose")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "DRILL PASSED: 3 of 3 target(s) restored as recorded", done.stdout
    shop = next(line for line in lines if line.startswith("pg/corral_shop: restored in "))
    assert "(4 tables, 5.0k rows, " in shop and shop.endswith(": passed; 1 check(s) passed"), shop
    blog = next(line for line in lines if line.startswith("pg/corral_blog: restored in "))
    assert "(1 table, 300 rows, " in blog and blog.endswith("1 check(s) passed"), blog
    roles = next(line for line in lines if line.startswith("pg/globals: restored in "))
    assert "role" in roles, roles
    assert "throwaway PostgreSQL" in done.stdout + done.stderr  # --verbose: what it started
    assert not left_under(tmp_dir)


def test_a_table_recorded_but_not_restored_fails_naming_it(
    pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path, server_tmp_path: Path
) -> None:
    tmp_dir = backed_up(pg, corral, tools, tmp_path, server_tmp_path)
    [record] = (tmp_path / "b" / "pg" / ".manifests").glob("*.json")
    data = json.loads(record.read_text())
    [blog] = [entry for entry in data["archives"] if "corral_blog" in entry["path"]]
    assert blog["facts"]["tables"] == {"public.posts": {"rows": 300}}, blog["facts"]
    blog["facts"]["tables"]["public.gone"] = {"rows": 12}
    blog["facts"]["tables"]["public.posts"]["rows"] = 3000
    record.write_text(json.dumps(data))
    done = drill(corral, "--target", "corral_blog")
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("pg/corral_blog: ")]
    assert "FAILED" in line and "table `public.gone` is missing (recorded: 12)" in line, line
    assert "table `public.posts`: 300 came back, 3000 recorded" in done.stdout, done.stdout
    assert not left_under(tmp_dir)


def test_a_failing_sql_check_fails_the_target(
    pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path, server_tmp_path: Path
) -> None:
    checks = ("  drill:\n    checks:\n      - sql: SELECT 1 FROM posts WHERE id > 1000\n"
              "      - sql: SELECT 1 FROM no_such_table\n      - sql: SELECT 1 FROM posts WHERE id = 7\n")  # fmt: skip
    backed_up(pg, corral, tools, tmp_path, server_tmp_path, checks)
    done = drill(corral, "--target", "corral_blog")
    assert done.returncode == 1
    assert "check `SELECT 1 FROM posts WHERE id > 1000` failed in database `corral_blog`: returned no row" \
        in done.stdout, done.stdout
    assert 'check `SELECT 1 FROM no_such_table` failed in database `corral_blog`: ERROR: relation ' \
        '"no_such_table" does not exist' in done.stdout, done.stdout
    assert "SELECT 1 FROM posts WHERE id = 7" not in done.stdout  # it passed


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_drill_leaves_no_server(
    pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path, server_tmp_path: Path, signum: int
) -> None:
    """SIGTERM: the server is stopped and the scratch folder removed before corral exits. ``kill -9``: the
    server dies with corral (its backends follow their postmaster); the folder waits for the next run."""
    tmp_dir = backed_up(pg, corral, tools, tmp_path, server_tmp_path)
    process = subprocess.Popen([str(CORRAL), "drill", "pg", "--target", "corral_shop", "-c",
                                str(corral.tmp_path / "corral.conf")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while not any(" in " in found and "/data" in found for found in left_under(tmp_dir)):
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.02)
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode != 0, out + err
    if signum == signal.SIGTERM:
        assert not left_under(tmp_dir)
        return
    deadline = time.monotonic() + 15
    while [found for found in left_under(tmp_dir) if found.startswith("pid ")]:
        assert time.monotonic() < deadline, left_under(tmp_dir)
        time.sleep(0.1)


def test_drill_server_restores_beside_and_drops_its_database(
    pg: Postgres, restore_pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path, server_tmp_path: Path
) -> None:
    """``drill: server``: no throwaway server; the dump goes into the given one as corral_drill_<target>, which
    is dropped after; the globals are only read back."""
    into = f"postgres@{restore_pg.socket_dir}/.s.PGSQL.{restore_pg.port}"
    checks = f"  drill:\n    server: {into}\n    checks:\n      - sql: SELECT 1 FROM posts WHERE id = 300\n"
    tmp_dir = backed_up(pg, corral, tools, tmp_path, server_tmp_path, checks)
    done = drill(corral, "--target", "corral_blog")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(1 table, 300 rows, " in done.stdout and "1 check(s) passed" in done.stdout, done.stdout
    with psycopg.connect(**restore_pg.connect_kwargs()) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname LIKE 'corral_drill%'").fetchone() is None
    done = drill(corral, "--target", "globals")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "role(s) read back; not run" in done.stdout, done.stdout
    assert not left_under(tmp_dir)


@pytest.fixture
def hot_db(pg: Postgres) -> Any:
    with psycopg.connect(**pg.connect_kwargs(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS corral_hot_drill")
        conn.execute("CREATE DATABASE corral_hot_drill")
    with psycopg.connect(**{**pg.connect_kwargs(), "dbname": "corral_hot_drill"}, autocommit=True) as conn:
        conn.execute("CREATE TABLE t AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, 20000) g")
    yield
    with psycopg.connect(**pg.connect_kwargs(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS corral_hot_drill")


def test_postgresql_hot_drill_starts_the_restored_data_directory(
    pg: Postgres, hot_db: Any, corral: Any, tools: SimpleNamespace, tmp_path: Path, server_tmp_path: Path
) -> None:
    tmp_dir = job_tmp(server_tmp_path)
    checks = ("  drill:\n    checks:\n      - sql: SELECT 1 FROM t WHERE id = 20000\n"
              "      - command: psql -X -c 'SELECT 1'\n")
    done = corral.start(dump_job(tmp_path / "b", tmp_dir, tools.connect_yaml(pg) + "    compression: zstd\n",
                                 checks, job_type="postgresql_hot"))
    assert done.code == 0, done.stderr + done.log
    result = drill(corral, "--verbose")
    assert result.returncode == 0, result.stdout + result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("pg/basebackup: ")]
    assert "databases, " in line and "PostgreSQL 15" in line and line.endswith("passed; 2 check(s) passed"), line
    assert not left_under(tmp_dir)
    [record] = (tmp_path / "b" / "pg" / ".manifests").glob("*.json")
    data = json.loads(record.read_text())
    data["archives"][0]["facts"]["databases"]["corral_hot_drill"]["bytes"] *= 3
    record.write_text(json.dumps(data))
    result = drill(corral)
    assert result.returncode == 1
    assert "database `corral_hot_drill`: " in result.stdout and " recorded" in result.stdout, result.stdout
    assert not left_under(tmp_dir)
