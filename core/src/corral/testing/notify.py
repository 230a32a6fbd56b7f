"""Test helpers for notifier plugins: real ``corral start`` runs in a temp dir, and a real HTTP server.

A notifier's ``tests/conftest.py`` imports the fixtures it needs::

    from corral.testing.notify import http_sink, workspace  # noqa: F401
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from corral.testing.cli import corral, local_storage, write_main

NOW = "2026-01-31T03:00:00"
DUMP = """#!/bin/sh
# An external job's dump: a small file, described in JSON on stdout.
set -e
printf 'dump of %s\\n' "$CORRAL_JOB" > "$CORRAL_TMP_DIR/$CORRAL_JOB.sql"
printf '{"full_path": "%s", "basename": "%s", "extension": "sql", "gzip": false}\\n' \\
  "$CORRAL_TMP_DIR/$CORRAL_JOB.sql" "$CORRAL_JOB"
"""


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    log: str

    def hides(self, secret: str) -> bool:
        return secret not in self.log and secret not in self.stderr and secret not in self.stdout


class Workspace:
    """A temp dir with a dump script, a regular file that breaks a storage, and ``corral start`` runs.

    ``store`` (a retention such as ``{"days": 3}``) goes on the working storage of every job.
    """

    def __init__(self, root: Path, store: dict[str, int] | None = None) -> None:
        self.root = root
        self.store = store
        self.dump = root / "dump.sh"
        self.dump.write_text(DUMP)
        self.dump.chmod(0o755)
        self.blocker = root / "not-a-dir"
        self.blocker.write_text("a regular file where a backup folder should be")

    def job(self, name: str, *, broken_storage: bool = False) -> dict[str, Any]:
        """An external job on a working local storage, plus (``broken_storage``) one whose folder is a file."""
        retention = {"store": self.store} if self.store else {}
        storages = [local_storage(self.root / "backups", **retention)]
        if broken_storage:
            storages.append(local_storage(self.blocker / "backups"))
        return {"job": name, "type": "external", "dump_cmd": str(self.dump), "storages": storages}

    def config(self, main: dict[str, Any], jobs: list[dict[str, Any]]) -> Path:
        """The main file (``server_name`` web1 unless ``main`` names one)."""
        return write_main(self.root, jobs, **{"server_name": "web1", **main})

    def run(self, config: Path, job: str = "all", env: dict[str, str] | None = None, now: str = NOW) -> Run:
        log = self.root / "log" / "corral.log"
        log.unlink(missing_ok=True)
        done = corral("start", "-c", str(config), job, env={"CORRAL_NOW": now, **(env or {})}, timeout=120)
        return Run(done.returncode, done.stdout, done.stderr, log.read_text() if log.exists() else "")

    def start(self, main: dict[str, Any], jobs: list[dict[str, Any]], job: str = "all", now: str = NOW) -> Run:
        return self.run(self.config(main, jobs), job, now=now)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HTTPSink:
    """Records every request; ``status``, ``delay`` and ``redirect`` (a ``Location``) by path shape the answers."""

    url: str
    requests: list[Request] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)
    delay: dict[str, float] = field(default_factory=dict)
    redirect: dict[str, str] = field(default_factory=dict)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


@pytest.fixture
def http_sink() -> Iterator[HTTPSink]:
    """An http.server on 127.0.0.1 (free port) in a thread of the test process."""
    with serve_http() as sink:
        yield sink


@pytest.fixture
def other_http_sink() -> Iterator[HTTPSink]:
    """A second, independent server (another port), e.g. the target of a redirect."""
    with serve_http() as sink:
        yield sink


@contextlib.contextmanager
def serve_http() -> Iterator[HTTPSink]:
    sink = HTTPSink(url="")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            sink.requests.append(Request(self.command, self.path, dict(self.headers.items()), body))
            time.sleep(sink.delay.get(self.path, 0))
            location = sink.redirect.get(self.path)
            self.send_response(sink.status.get(self.path, 302 if location else 200))
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        do_POST = do_GET = do_HEAD = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    sink.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
