"""``corral restore`` stopped by SIGTERM (or Ctrl-C) half-way through the load drops the database it created, as
a failed load does; a database that was there before (empty, restored into) is never dropped."""

from __future__ import annotations

import contextlib
import importlib.util
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest

from corral_testservers import Postgres

_spec = importlib.util.spec_from_file_location("pg_test_restore", Path(__file__).with_name("test_restore.py"))
assert _spec is not None and _spec.loader is not None
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)  # the restore tests' helpers (pytest's importlib mode puts no tests on sys.path)
CORRAL, execute, exists, job, over_socket = (_helpers.CORRAL, _helpers.execute, _helpers.exists, _helpers.job,
                                             _helpers.over_socket)


def stopped_mid_load(pg: Postgres, corral: Any, into: str, signum: int) -> tuple[int, str]:
    """``corral restore`` of corral_ri as ``into``, stopped by ``signum`` while pg_restore waits in the post-data
    section: a transaction of ours holds the name of the primary key's index (posts_pkey) until corral is stopped."""
    process = subprocess.Popen([str(CORRAL), "restore", "pg-ri", "--target", "corral_ri", "--as", into, "-c",
                                str(corral.tmp_path / "corral.conf")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    blocker = None
    try:
        deadline = time.monotonic() + 120
        while blocker is None:
            assert time.monotonic() < deadline and process.poll() is None, process.communicate()
            try:
                blocker = psycopg.connect(**over_socket(pg, into))
                blocker.execute("CREATE TABLE public.posts_pkey (x int)")  # uncommitted: pg_restore waits on it
            except psycopg.Error:
                blocker = None
                time.sleep(0.02)
        with psycopg.connect(**over_socket(pg), autocommit=True) as conn:  # a fresh pg_stat_activity each time
            while not conn.execute("SELECT 1 FROM pg_stat_activity WHERE datname = %s AND wait_event_type = "
                                   "'Lock'", [into]).fetchone():
                assert time.monotonic() < deadline and process.poll() is None, process.communicate()
                time.sleep(0.05)
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        if blocker is not None:
            with contextlib.suppress(psycopg.Error):  # its session was ended by DROP DATABASE ... WITH (FORCE)
                blocker.close()
    return process.returncode, out + err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_sigterm_during_the_load_drops_the_created_database(pg: Postgres, corral: Any, tools: SimpleNamespace,
                                                              tmp_path: Path, signum: int) -> None:  # fmt: skip
    execute(pg, *(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)" for name in ("corral_ri", "corral_ri_copy",
                                                                            "corral_ri_kept")),
            "CREATE DATABASE corral_ri")
    execute(pg, "CREATE TABLE posts (id int PRIMARY KEY, title text)",
            "INSERT INTO posts SELECT g, md5(g::text) FROM generate_series(1, 200000) g", dbname="corral_ri")
    assert corral.start(job("pg-ri", tmp_path / "b", tools.connect_yaml(pg), "[corral_ri]")).code == 0
    try:
        code, said = stopped_mid_load(pg, corral, "corral_ri_copy", signum)
        assert code == 128 + signum and "Traceback" not in said, said
        assert "stopped: dropped the half-restored database `corral_ri_copy`" in said, said
        assert not exists(pg, "corral_ri_copy"), said
        # an empty database that was there is restored into, and kept when stopped
        execute(pg, "CREATE DATABASE corral_ri_kept")
        code, said = stopped_mid_load(pg, corral, "corral_ri_kept", signum)
        assert code == 128 + signum and "Traceback" not in said, said
        assert exists(pg, "corral_ri_kept") and "dropped" not in said, said
    finally:
        execute(pg, "DROP DATABASE IF EXISTS corral_ri WITH (FORCE)", "DROP DATABASE IF EXISTS corral_ri_copy "
                "WITH (FORCE)", "DROP DATABASE IF EXISTS corral_ri_kept WITH (FORCE)")
