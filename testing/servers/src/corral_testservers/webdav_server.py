"""WebDAV with wsgidav on cheroot (PyPI), basic auth for one user."""

from __future__ import annotations

import contextlib
import http.client
import json
import ssl
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .credentials import new_password
from .ports import HOST, free_port
from .prerequisites import require_executable, require_module
from .processes import run_checked, running
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
    ca_file: Path | None = None  # with tls=True: the self-signed certificate (CN and IP 127.0.0.1) to trust

    @property
    def url(self) -> str:
        return f"{'https' if self.ca_file else 'http'}://{self.host}:{self.port}/"

    @property
    def auth(self) -> tuple[str, str]:
        """``(user, password)`` for basic auth (``WebdavFileSystem(url, auth=...)``)."""
        return (self.user, self.password)


def _answers_http(port: int, tls: bool = False) -> bool:
    if tls:
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            HOST, port, timeout=2, context=ssl._create_unverified_context()
        )
    else:
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("OPTIONS", "/")
        return conn.getresponse().status > 0
    finally:
        conn.close()


@contextlib.contextmanager
def start_webdav(
    tmp: Path, *, user: str = "corral", tls: bool = False, timeout: float = 30.0
) -> Iterator[WebDAVServer]:
    """Run wsgidav on a free port until the block exits; ``tls=True`` serves HTTPS with a self-signed
    certificate (``ca_file``)."""
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
    ca_file = None
    if tls:
        openssl = require_executable("openssl", apt="openssl")
        ca_file, key_file = base / "cert.pem", base / "key.pem"
        run_checked(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={HOST}",
             "-addext", f"subjectAltName=IP:{HOST}", "-keyout", str(key_file), "-out", str(ca_file)],
            what="openssl req", log=base / "openssl.log", timeout=60,
        )  # fmt: skip
        config.update({"ssl_certificate": str(ca_file), "ssl_private_key": str(key_file)})
    conf = write_private(base / "wsgidav.yaml", json.dumps(config, indent=2))
    argv = [sys.executable, "-m", "wsgidav.server.server_cli", "-c", str(conf)]
    with running(argv, what="wsgidav", log=log, timeout=timeout, ready=lambda: _answers_http(port, tls)):
        yield WebDAVServer(HOST, port, user, password, root, log, ca_file)
