"""SMTP sinks with aiosmtpd (PyPI): messages land in a Maildir the test reads; optionally with AUTH."""

from __future__ import annotations

import contextlib
import email
import email.message
import email.policy
import mailbox
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .credentials import new_password
from .ports import HOST, read_banner
from .prerequisites import require_module
from .processes import running
from .workdirs import instance_dir

PIP = "aiosmtpd"


@dataclass(frozen=True)
class SMTPServer:
    """A running SMTP server. ``user``/``password`` are None when it needs no AUTH; with them, AUTH PLAIN or
    LOGIN (no TLS) is required before MAIL FROM."""

    host: str
    port: int
    maildir: Path
    user: str | None
    password: str | None = field(repr=False)
    log: Path

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def messages(self) -> list[email.message.EmailMessage]:
        """Every message received so far (oldest first, by delivery time)."""
        box = mailbox.Maildir(self.maildir, create=False)
        keys = sorted(box.keys(), key=lambda k: box.get_message(k).get_date())
        return [email.message_from_bytes(box.get_bytes(k), policy=email.policy.default) for k in keys]

    def wait_for_messages(self, count: int, timeout: float = 5.0) -> list[email.message.EmailMessage]:
        """Wait until at least ``count`` messages arrived and return them all."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages()
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages in {self.maildir}, got {len(found)}")


def _ready_port(log: Path) -> int | None:
    match = re.search(r"^ready (\d+)$", log.read_text(errors="replace"), re.MULTILINE)
    return int(match.group(1)) if match else None


@contextlib.contextmanager
def start_smtp(
    tmp: Path, *, auth: bool = False, user: str = "corral", timeout: float = 30.0
) -> Iterator[SMTPServer]:
    """Run an aiosmtpd sink on a free port (requiring AUTH when ``auth``) until the block exits."""
    require_module("aiosmtpd", pip=PIP)
    base = instance_dir(tmp, "smtp-auth" if auth else "smtp")
    maildir = base / "maildir"
    mailbox.Maildir(maildir, create=True)
    log = base / "smtp.log"
    password = new_password() if auth else None
    env = {"PYTHONUNBUFFERED": "1"}
    if auth:
        env |= {"CORRAL_SMTP_USER": user, "CORRAL_SMTP_PASSWORD": password or ""}
    argv = [sys.executable, "-m", "corral_testservers.smtp_server_main", HOST, str(maildir)]

    def ready() -> bool:
        port = _ready_port(log)
        return port is not None and read_banner(port).startswith(b"220")

    with running(argv, what="aiosmtpd", log=log, env=env, timeout=timeout, ready=ready):
        port = _ready_port(log)
        assert port is not None
        yield SMTPServer(HOST, port, maildir, user if auth else None, password, log)
