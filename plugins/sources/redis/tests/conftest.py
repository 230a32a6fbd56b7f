"""Fixtures of the Redis plugin's tests: the harness's server loaded with every type. Helpers live in
``redis_testkit`` (pytest runs with importlib mode)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from corral_testservers import Redis

sys.path.insert(0, str(Path(__file__).parent))

from redis_testkit import load_every_type


@pytest.fixture(scope="session")
def source_redis(redis_server: Redis) -> Redis:
    load_every_type(redis_server)
    return redis_server
