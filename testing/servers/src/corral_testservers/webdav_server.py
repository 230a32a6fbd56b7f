"""WebDAV with wsgidav on cheroot (PyPI), basic auth for one user."""

from __future__ import annotations

import contextlib
import http.client
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .credentials import new_password
from .ports import HOST, free_port
from .prerequisites import require_module
from .processes import running
from .workdirs import instance_dir, write_private

PIP = "wsgidav cheroot"


@dataclass(frozen=True)
class WebDAVServer:
    """A running WebDAV server whose ``/`` is the directory ``root``."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    root: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def auth(self) -> tuple[str, str]:
        """``(user, password)`` for basic auth (``WebdavFileSystem(url, auth=...)``)."""
        return (self.user, self.password)


def _answers_http(port: int) -> bool:
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("OPTIONS", "/")
        return conn.getresponse().status > 0
    finally:
        conn.close()


@contextlib.contextmanager
def start_webdav(tmp: Path, *, user: str = "corral", timeout: float = 30.0) -> Iterator[WebDAVServer]:
    """Run wsgidav on a free port until the block exits."""
    require_module("wsgidav", pip=PIP)
    require_module("cheroot", pip=PIP)
    base = instance_dir(tmp, "webdav")
    root = base / "root"
    root.mkdir()
    log = base / "wsgidav.log"
    port = free_port()
    password = new_password()
    config = {  # JSON is YAML, so wsgidav reads it as its .yaml config
        "host": HOST,
        "port": port,
        "server": "cheroot",
        "provider_mapping": {"/": str(root)},
        "http_authenticator": {
            "domain_controller": None, "accept_basic": True,
            "accept_digest": False, "default_to_digest": False,
        },
        "simple_dc": {"user_mapping": {"*": {user: {"password": password}}}},
        "verbose": 1,
        "logging": {"enable_loggers": []},
        "lock_storage": True,
        "property_manager": True,
    }  # fmt: skip
    conf = write_private(base / "wsgidav.yaml", json.dumps(config, indent=2))
    argv = [sys.executable, "-m", "wsgidav.server.server_cli", "-c", str(conf)]
    with running(argv, what="wsgidav", log=log, timeout=timeout, ready=lambda: _answers_http(port)):
        yield WebDAVServer(HOST, port, user, password, root, log)
