"""Fixtures of the MySQL plugin's tests: the harness's two MariaDB servers plus a fresh one to restore into."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral_testservers import MariaDB
from corral_testservers.mariadb_server import start_mariadb

sys.path.insert(0, str(Path(__file__).parent))  # tests import mysql_testkit (pytest runs with importlib mode)


@pytest.fixture(scope="session")
def restore_server(corral_servers_root: Path) -> Iterator[MariaDB]:
    """An instance that has never seen the backed-up databases: restores go here."""
    with start_mariadb(corral_servers_root) as server:
        yield server
