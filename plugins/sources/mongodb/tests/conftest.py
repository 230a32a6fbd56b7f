"""Fixtures of the MongoDB plugin's tests: the harness's server loaded with awkward data, a fresh one to restore
into. Helpers live in ``mongodb_testkit`` and ``mongorestore_dir`` (pytest runs with importlib mode)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pymongo
import pytest

from corral_testservers import Mongo, start_mongo

sys.path.insert(0, str(Path(__file__).parent))

from mongodb_testkit import load_awkward_data


@pytest.fixture(scope="session")
def source_mongo(mongo_server: Mongo) -> Mongo:
    with pymongo.MongoClient(**mongo_server.connect_kwargs()) as client:
        load_awkward_data(client)
    return mongo_server


@pytest.fixture
def fresh_mongo(server_tmp_path: Path) -> Iterator[Mongo]:
    """An empty server to restore into."""
    with start_mongo(server_tmp_path) as server:
        yield server
