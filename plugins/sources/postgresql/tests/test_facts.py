"""The facts a ``postgresql`` archive's manifest entry records (docs/verify.md), read by the real ``corral start``
from what the server holds; a statistics query that fails leaves a warning and the archive stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest

from corral_testservers import Postgres

DB = "corral_facts"
ROWS = {"public.items": 2000, "sales.fresh": 7, "public.empty": 0, "Ärger.Tabelle ✓": 3, "public.summary": 1}


@pytest.fixture
def facts_db(pg: Postgres) -> Iterator[str]:
    """`items` analyzed; `fresh`, the unicode table and the materialized view never analyzed (reltuples -1)."""
    with psycopg.connect(**pg.connect_kwargs(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB}")
        conn.execute(f"CREATE DATABASE {DB}")
    with psycopg.connect(**{**pg.connect_kwargs(), "dbname": DB}, autocommit=True) as conn:
        for statement in (
            "CREATE TABLE items (id int PRIMARY KEY, v text)",
            "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 2000) g",
            "ANALYZE items",
            "CREATE SCHEMA sales", "CREATE TABLE sales.fresh (id int)",
            "INSERT INTO sales.fresh SELECT generate_series(1, 7)",
            "CREATE TABLE empty (id int)",
            'CREATE SCHEMA "Ärger"', 'CREATE TABLE "Ärger"."Tabelle ✓" (k text)',
            """INSERT INTO "Ärger"."Tabelle ✓" VALUES ('a'), ('b'), ('c')""",
            "CREATE VIEW big_items AS SELECT * FROM items WHERE id > 1000",
            "CREATE MATERIALIZED VIEW summary AS SELECT count(*) FROM items",
        ):
            conn.execute(statement)
    yield DB
    with psycopg.connect(**pg.connect_kwargs(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB}")


def _start(corral: Any, tools: SimpleNamespace, pg: Postgres, tmp_path: Path,
           site: str = "") -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """``corral start`` of one database; ``site``: a sitecustomize run in corral's process. Returns the result
    and the archive's facts in the manifest."""
    env = {}
    if site:
        (tmp_path / "site").mkdir()
        (tmp_path / "site" / "sitecustomize.py").write_text(site)
        env["PYTHONPATH"] = str(tmp_path / "site")
    backups = tmp_path / "backups"
    result = corral.start(f"""\
- job: pg
  type: postgresql
  sources:
  - connect:
{tools.connect_yaml(pg)}    target: [{DB}]
    globals: no
  storages:
  - storage: local
    backup_dir: {backups}
""", env=env)
    assert result.code == 0, result.stderr
    assert set(corral.stored(backups)) == {f"{DB}_{tools.STAMP}.dump"}
    record = json.loads((backups / "pg" / ".manifests" / f"{tools.STAMP}.json").read_text())
    (entry,) = record["archives"]
    return result, entry["facts"]


def test_manifest_records_what_the_server_holds(
    pg: Postgres, facts_db: str, corral: Any, tools: SimpleNamespace, tmp_path: Path
) -> None:
    result, facts = _start(corral, tools, pg, tmp_path)
    counted = {name: int(tools.psql(pg, DB, "SELECT count(*) FROM {}".format(
        ".".join(f'"{part}"' for part in name.split("."))))) for name in ROWS}
    assert counted == ROWS
    assert facts["tables"] == {name: {"rows": rows} for name, rows in sorted(ROWS.items())}  # not the view
    assert facts["server"] == tools.psql(pg, DB, "SHOW server_version").strip()
    assert facts["tool"].startswith("pg_dump (PostgreSQL) ")
    assert facts["database"] == DB
    assert facts["bytes"] == int(tools.psql(pg, DB, f"SELECT pg_database_size('{DB}')"))
    assert "[WARNING]" not in result.log


def test_tables_never_analyzed_beyond_the_count_budget_have_no_rows(
    pg: Postgres, facts_db: str, corral: Any, tools: SimpleNamespace, tmp_path: Path
) -> None:
    _result, facts = _start(corral, tools, pg, tmp_path, "import corral_source_postgresql.facts as f\n"
                                                         "f.COUNT_BUDGET = 0\n")
    assert facts["tables"]["public.items"] == {"rows": 2000}  # analyzed: the estimate
    assert facts["tables"]["sales.fresh"] == {"rows": None}  # would be counted: over the budget
    assert facts["tables"]["public.empty"] == {"rows": 0}  # 0 bytes: within any budget


def test_a_failing_statistics_query_warns_and_the_archive_is_stored(
    pg: Postgres, facts_db: str, corral: Any, tools: SimpleNamespace, tmp_path: Path
) -> None:
    result, facts = _start(corral, tools, pg, tmp_path, "import corral_source_postgresql.facts as f\n"
                                                        "f.DATABASE_QUERY = 'SELECT * FROM no_such_table'\n")
    warning = next(line for line in result.log.splitlines() if "facts: cannot read the table statistics" in line)
    assert "WARNING" in warning and "no_such_table" in warning
    assert facts["database"] == DB and facts["tool"] and "tables" not in facts
