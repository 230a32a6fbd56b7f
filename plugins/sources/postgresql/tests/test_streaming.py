"""``postgresql`` streams: a dump four times larger than tmp_dir (a 2 MiB tmpfs) is stored whole, and a pg_dump
that fails after megabytes of output leaves nothing under a final name anywhere."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest

from corral_testservers import Postgres

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a size-limited tmpfs (root only)")

ROWS = 16 * 1024  # rows of 1 KiB of md5 text: 16 MiB of COPY data


def _database(pg: Postgres, name: str, *, failing: bool) -> None:
    with psycopg.connect(**pg.connect_kwargs(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'corral_streamer'").fetchone():
            conn.execute("CREATE ROLE corral_streamer LOGIN PASSWORD 'streamer-pw-7'")
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    with psycopg.connect(**{**pg.connect_kwargs(), "dbname": name}, autocommit=True) as conn:
        conn.execute("CREATE TABLE a_big AS SELECT g, (SELECT string_agg(md5(random()::text || g || i), '') "
                     f"FROM generate_series(1, 32) i) AS filler FROM generate_series(1, {ROWS}) g")
        conn.execute("GRANT SELECT ON a_big TO corral_streamer")
        if failing:  # pg_dump runs with row_security off: the COPY of z_rls fails, after a_big's data went out
            conn.execute("CREATE TABLE z_rls (id int)")
            conn.execute("GRANT SELECT ON z_rls TO corral_streamer")
            conn.execute("ALTER TABLE z_rls ENABLE ROW LEVEL SECURITY")
            conn.execute("CREATE POLICY everyone ON z_rls USING (true)")


def test_a_dump_bigger_than_tmp_dir_streams_and_a_failing_one_stores_nothing(
    pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path
) -> None:
    _database(pg, "corral_stream_big", failing=False)
    _database(pg, "corral_stream_bad", failing=True)
    backups = tmp_path / "backups"
    jobs = f"""\
- job: pg-stream
  type: postgresql
  tmp_dir: {tmp_path / "small-tmp" / "work"}
  sources:
  - connect:
      db_host: {pg.host}
      db_port: {pg.port}
      db_user: corral_streamer
      db_password: streamer-pw-7
    target: [corral_stream_bad, corral_stream_big]
    globals: no
    compression: none
  storages:
  - storage: local
    backup_dir: {backups}
"""
    result = corral.start(jobs, small_tmp=tmp_path / "small-tmp")
    assert result.code == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if "[ERROR] [pg-stream] source 1:" in line]
    assert len(errors) == 1, result.stderr
    assert "target corral_stream_bad: pg_dump of `corral_stream_bad` on " in errors[0]
    assert "row-level security" in errors[0] and errors[0].endswith("; nothing was stored"), errors[0]
    stored = corral.stored(backups)
    assert set(stored) == {f"corral_stream_big_{tools.STAMP}.dump"}, stored
    # pg_dump compresses the custom format itself here (compression: none): still four times the tmpfs
    assert stored[f"corral_stream_big_{tools.STAMP}.dump"].stat().st_size > 8 * 1024 * 1024
    assert not [path for path in backups.rglob("*stream_bad*") if path.is_file()], "no temp file either"
    listed = tools.shell(f"pg_restore -l '{stored[f'corral_stream_big_{tools.STAMP}.dump']}'", pg)
    assert listed.returncode == 0 and "TABLE DATA public a_big" in listed.stdout, listed.stderr
