"""MongoDB wire protocol with SCRAM-SHA-256 auth, served by SecantusDB (PyPI ``secantusdb``)."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .credentials import new_password
from .ports import HOST
from .prerequisites import require_module
from .processes import running
from .workdirs import instance_dir

PIP = "secantusdb pymongo"


@dataclass(frozen=True)
class Mongo:
    """A running MongoDB-compatible server; ``user`` has role ``root`` in ``admin``."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    datadir: Path
    log: Path

    @property
    def url(self) -> str:
        return (
            f"mongodb://{quote(self.user)}:{quote(self.password)}@{self.host}:{self.port}/"
            "?authSource=admin&directConnection=true"
        )

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``pymongo.MongoClient``."""
        return {
            "host": self.host, "port": self.port, "username": self.user, "password": self.password,
            "authSource": "admin", "directConnection": True,
        }  # fmt: skip


def _ready_port(log: Path) -> int | None:
    match = re.search(r"^ready (\d+)$", log.read_text(errors="replace"), re.MULTILINE)
    return int(match.group(1)) if match else None


@contextlib.contextmanager
def start_mongo(tmp: Path, *, user: str = "corral", timeout: float = 60.0) -> Iterator[Mongo]:
    """Run SecantusDB on a free port with a SCRAM user until the block exits."""
    require_module("secantus", pip=PIP)
    require_module("pymongo", pip=PIP)
    base = instance_dir(tmp, "mongo")
    datadir = base / "data"
    log = base / "mongo.log"
    password = new_password()
    argv = [sys.executable, "-m", "corral_testservers.mongo_server_main", HOST, str(datadir)]
    env = {"CORRAL_MONGO_USER": user, "CORRAL_MONGO_PASSWORD": password, "PYTHONUNBUFFERED": "1"}
    with running(
        argv, what="SecantusDB", log=log, env=env, timeout=timeout, ready=lambda: _ready_port(log) is not None
    ):
        port = _ready_port(log)
        assert port is not None
        yield Mongo(HOST, port, user, password, datadir, log)
