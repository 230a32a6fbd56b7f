import os
import subprocess
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from corral_testservers import Redis, start_redis
from corral_testservers.ports import port_open


def test_redis_write_read(redis_server: Redis) -> None:
    assert redis_server.password not in repr(redis_server)
    client = redis.Redis(**redis_server.connect_kwargs())
    client.set("smoke", b"value")
    assert client.get("smoke") == b"value"
    out = subprocess.run(
        ["redis-cli", "-h", redis_server.host, "-p", str(redis_server.port), "GET", "smoke"],
        env={**os.environ, **redis_server.env()}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "value"
    no_retry = Retry(NoBackoff(), 0)
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=redis_server.host, port=redis_server.port, password="wrong", retry=no_retry).ping()


def test_private_instance_stops_at_block_exit(server_tmp_path: Path) -> None:
    with start_redis(server_tmp_path) as server:
        assert redis.Redis(**server.connect_kwargs()).ping()
    assert not port_open(server.port)
