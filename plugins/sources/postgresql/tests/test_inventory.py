"""``corral_source_inventory`` of ``postgresql`` and ``postgresql_hot`` against the session's real PostgreSQL:
every database ``all`` would see but ``postgres``, those ``target``/``excludes`` select, a refused login as one
line without the password, and no pgpass file left behind."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from corral import RunContext
from corral_source_postgresql import dump, hot
from corral_source_postgresql.options import DumpSource, HotSource
from corral_testservers import Postgres

NAMES = ["inv_shop", "inv_blog", "inv_scratch"]


@pytest.fixture
def databases(postgres_server: Postgres, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PATH", f"{postgres_server.bin_dir}:{os.environ['PATH']}")
    with psycopg.connect(**postgres_server.connect_kwargs(), autocommit=True) as conn:
        for name in NAMES:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
    yield
    with psycopg.connect(**postgres_server.connect_kwargs(), autocommit=True) as conn:
        for name in NAMES:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _run(tmp_path: Path) -> RunContext:
    return RunContext(now=datetime(2026, 1, 31, 3), main=None, config_path=tmp_path / "corral.conf")


def _connect(server: Postgres, password: str | None = None) -> dict[str, object]:
    return {"db_host": server.host, "db_port": server.port, "db_user": server.user,
            "db_password": server.password if password is None else password}


@pytest.mark.usefixtures("databases")
def test_all_minus_excludes_and_named_targets(postgres_server: Postgres, tmp_path: Path) -> None:
    source = DumpSource(connect=_connect(postgres_server), target=["all"], excludes=["postgres", "inv_scratch"])
    found = dump.corral_source_inventory(source=source, tmp_dir=tmp_path, run=_run(tmp_path))
    assert found.error is None
    assert (found.engine, found.host, found.port) == ("postgresql", postgres_server.host, postgres_server.port)
    assert found.server == f"postgresql {postgres_server.user}@{postgres_server.host}:{postgres_server.port}"
    assert set(NAMES) <= set(found.databases)
    assert "postgres" not in found.databases and not any(name.startswith("template") for name in found.databases)
    assert {"inv_shop", "inv_blog"} <= set(found.dumped) and "inv_scratch" not in found.dumped

    named = DumpSource(connect=_connect(postgres_server), target=["inv_shop", "inv_gone"])
    found = dump.corral_source_inventory(source=named, tmp_dir=tmp_path, run=_run(tmp_path))
    assert found.dumped == ("inv_shop", "inv_gone")

    whole = HotSource(connect=_connect(postgres_server))
    found = hot.corral_source_inventory(source=whole, tmp_dir=tmp_path, run=_run(tmp_path))
    assert set(NAMES) <= set(found.dumped) and set(found.databases) <= set(found.dumped)
    assert list(tmp_path.iterdir()) == []  # the pgpass file holding the password is gone


def test_refused_login_is_one_line_without_the_password(postgres_server: Postgres, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{postgres_server.bin_dir}:{os.environ['PATH']}")
    source = DumpSource(connect=_connect(postgres_server, password="wrong-pw-4d2a"))
    found = dump.corral_source_inventory(source=source, tmp_dir=tmp_path, run=_run(tmp_path))
    assert found.error is not None and found.error.startswith("cannot list the databases: ")
    assert "\n" not in found.error and "wrong-pw-4d2a" not in found.error
    assert (found.databases, found.dumped) == ((), ())
