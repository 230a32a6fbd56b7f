"""SMTP servers that speak TLS (the harness's SMTP fixtures speak plain TCP only)."""

from __future__ import annotations

import asyncio
import mailbox
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from corral.testing.notify import Workspace
from corral_testservers import SMTPServer
from corral_testservers.credentials import new_password
from corral_testservers.prerequisites import require_executable, require_module


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 made by openssl; clients trust it through SSL_CERT_FILE."""
    openssl = require_executable("openssl", apt="openssl")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


@dataclass
class TLSServers:
    starttls: SMTPServer
    smtps: SMTPServer
    cert: Path


@pytest.fixture(scope="session")
def tls_smtp_servers(tls_cert: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSServers]:
    """Two aiosmtpd servers requiring AUTH: one on STARTTLS (required), one on SMTPS. The harness's SMTP
    fixtures speak plain TCP only, so these run here, in a thread of the test process."""
    require_module("aiosmtpd", pip="aiosmtpd")
    from aiosmtpd.handlers import Mailbox
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

    cert, key = tls_cert
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    user, password = "mailer", new_password()
    expected = (user.encode(), password.encode())

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        return AuthResult(success=isinstance(data, LoginPassword) and (data.login, data.password) == expected,
                          handled=False)

    root = tmp_path_factory.mktemp("smtp-tls")
    loop = asyncio.new_event_loop()
    servers: dict[str, tuple[Any, Path]] = {}

    async def serve(name: str, **options: Any) -> None:
        maildir = root / name
        mailbox.Maildir(maildir, create=True)
        smtps = options.pop("smtps", False)
        server = await loop.create_server(
            lambda: SMTP(Mailbox(maildir), hostname="127.0.0.1", authenticator=authenticate, auth_required=True,
                         **options),
            "127.0.0.1", 0, ssl=context if smtps else None,
        )
        servers[name] = (server, maildir)

    ready = threading.Event()

    def run_loop() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(serve("starttls", tls_context=context, require_starttls=True))
        loop.run_until_complete(serve("smtps", smtps=True, auth_require_tls=False))
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run_loop, daemon=True)
    thread.start()
    assert ready.wait(10), "aiosmtpd TLS servers did not start"

    def info(name: str) -> SMTPServer:
        server, maildir = servers[name]
        port = server.sockets[0].getsockname()[1]
        return SMTPServer("127.0.0.1", port, maildir, user, password, root / "none.log")

    yield TLSServers(info("starttls"), info("smtps"), cert)
    for server, _ in servers.values():
        loop.call_soon_threadsafe(server.close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """The notifier harness's workspace, with a retention on its storage (rotation is part of the reports)."""
    return Workspace(tmp_path, store={"days": 3})
