"""Redis (Debian's redis-server) with ``requirepass``, no persistence, diskless sync without delay."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .credentials import new_password
from .ports import HOST, free_port, port_open
from .prerequisites import require_executable
from .processes import running
from .workdirs import instance_dir, write_private


@dataclass(frozen=True)
class Redis:
    """A running Redis server; ``datadir`` is its ``dir`` (where SAVE writes dump.rdb)."""

    host: str
    port: int
    password: str = field(repr=False)
    datadir: Path
    log: Path

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@{self.host}:{self.port}/0"

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``redis.Redis``."""
        return {"host": self.host, "port": self.port, "password": self.password}

    def env(self) -> dict[str, str]:
        """``REDISCLI_AUTH`` for redis-cli (keeps the password out of argv)."""
        return {"REDISCLI_AUTH": self.password}


@contextlib.contextmanager
def start_redis(tmp: Path, *, timeout: float = 30.0) -> Iterator[Redis]:
    """Run ``redis-server`` on a free port with a random password until the block exits."""
    server = require_executable("redis-server", apt="redis-server")
    base = instance_dir(tmp, "redis")
    log = base / "redis.log"
    port = free_port()
    password = new_password()
    conf = write_private(
        base / "redis.conf",
        "\n".join([
            f"port {port}", f"bind {HOST}", f"dir {base}", "daemonize no", 'save ""', "appendonly no",
            f"requirepass {password}", "repl-diskless-sync-delay 0", 'logfile ""', "",
        ]),
    )  # fmt: skip
    with running(
        [server, str(conf)], what="redis-server", log=log, timeout=timeout, ready=lambda: port_open(port)
    ):
        yield Redis(HOST, port, password, base, log)
