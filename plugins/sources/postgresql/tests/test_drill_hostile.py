"""A drill's throwaway server is corral's alone: a restored base backup brings the production roles and their
passwords, and no local user may log into it over TCP while the drill runs (its unix socket is in a folder only
root and postgres can reach)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg

from corral_testservers import Postgres

_spec = importlib.util.spec_from_file_location("pg_test_drill", Path(__file__).with_name("test_drill.py"))
assert _spec is not None and _spec.loader is not None
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)  # the drill tests' helpers (pytest's importlib mode puts no tests on sys.path)
drill, dump_job, job_tmp, left_under = _helpers.drill, _helpers.dump_job, _helpers.job_tmp, _helpers.left_under


def test_nobody_logs_into_a_hot_drills_server_over_tcp(pg: Postgres, corral: Any, tools: SimpleNamespace,
                                                       tmp_path: Path, server_tmp_path: Path) -> None:  # fmt: skip
    with psycopg.connect(**pg.connect_kwargs(), autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS corral_site_user")
        conn.execute("CREATE ROLE corral_site_user LOGIN PASSWORD 'site-user-knows-this'")
    tmp_dir = job_tmp(server_tmp_path)
    login = ("psql -X -w -c 'SELECT 1' \"host=127.0.0.1 port=$PGPORT user=corral_site_user dbname=postgres "
             "password=site-user-knows-this\"")
    checks = ("  drill:\n    checks:\n      - command: psql -X -c 'SELECT 1'\n"
              f"      - command: {json.dumps('! ' + login)}\n")
    try:
        done = corral.start(dump_job(tmp_path / "b", tmp_dir, tools.connect_yaml(pg) + "    compression: zstd\n",
                                     checks, job_type="postgresql_hot"))
        assert done.code == 0, done.stderr + done.log
        result = drill(corral)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "passed; 2 check(s) passed" in result.stdout, result.stdout
        assert not left_under(tmp_dir)
    finally:
        with psycopg.connect(**pg.connect_kwargs(), autocommit=True) as conn:
            conn.execute("DROP ROLE IF EXISTS corral_site_user")
