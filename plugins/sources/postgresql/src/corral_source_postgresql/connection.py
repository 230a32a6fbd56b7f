"""Reaching the server with libpq's command-line tools, without a password ever on a command line.

Every tool gets one libpq connection string (``-d 'host=... port=... user=... dbname=...'``) and, when the
config holds a password, ``PGPASSFILE`` pointing at a 0600 file in the job's temp dir that lives only as long
as the source's dump. ``-w`` everywhere: a tool never waits for a password on a terminal.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from corral import DumpError, JobConfig
from corral_source_postgresql.options import Connect

CONNECT_TIMEOUT = 10  # seconds: an unreachable server fails the source quickly instead of hanging the run
_SOCKET_FILE = re.compile(r"^\.s\.PGSQL\.(\d+)$")
_UNSAFE = re.compile(r"[^\w.+@=-]+")


@dataclass(frozen=True)
class Server:
    """Where and as whom to connect; None leaves a parameter to libpq's defaults."""

    host: str | None
    port: int | None
    user: str | None
    password: str | None
    auth_file: Path | None

    @classmethod
    def from_config(cls, connect: Connect) -> Server:
        host, port = connect.db_host, connect.db_port
        if connect.socket:
            socket = Path(connect.socket)
            match = _SOCKET_FILE.match(socket.name)
            if match:  # the socket file itself: libpq wants its directory, and the port is in the name
                socket, port = socket.parent, port or int(match[1])
            host = str(socket)
        password = connect.db_password.get_secret_value() if connect.db_password is not None else None
        return cls(host, port, connect.db_user, password, connect.auth_file)

    def conninfo(self, dbname: str | None = None) -> str:
        """A libpq connection string (never with the password)."""
        params = {"host": self.host, "port": self.port, "user": self.user, "dbname": dbname,
                  "connect_timeout": CONNECT_TIMEOUT}
        return " ".join(f"{key}={_quote(str(value))}" for key, value in params.items() if value is not None)

    @property
    def label(self) -> str:
        """The server as messages name it: ``user@host:port``."""
        user = f"{self.user}@" if self.user else ""
        return f"`{user}{self.host or 'local socket'}:{self.port or 5432}`"


def _quote(value: str) -> str:
    """A conninfo value: single-quoted, with backslash and quote escaped (any database name is allowed)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _pgpass_line(password: str) -> str:
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    return f"*:*:*:*:{escaped}\n"


@contextlib.contextmanager
def client_env(server: Server, tmp_dir: Path) -> Iterator[dict[str, str]]:
    """The environment for the tools: a private pgpass file for ``db_password``, or the user's ``auth_file``.

    The file is deleted when the block ends, whatever happens inside it.
    """
    env = dict(os.environ)
    passfile: Path | None = None
    if server.password is not None:
        passfile = tmp_dir / f".pgpass-{secrets.token_hex(8)}"
        fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(_pgpass_line(server.password))
        env.pop("PGPASSWORD", None)  # libpq would prefer it over the file
        env["PGPASSFILE"] = str(passfile)
    elif server.auth_file is not None:
        _check_auth_file(server.auth_file)
        env.pop("PGPASSWORD", None)
        env["PGPASSFILE"] = str(server.auth_file)
    try:
        yield env
    finally:
        if passfile is not None:
            passfile.unlink(missing_ok=True)


def _check_auth_file(path: Path) -> None:
    try:
        mode = path.stat().st_mode
        with path.open("rb"):
            pass
    except OSError as exc:
        raise DumpError(f"auth_file `{path}` cannot be read: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise DumpError(f"auth_file `{path}` is readable by others and libpq would ignore it: chmod 600 {path}")


def first_error(stderr: bytes, fallback: str) -> str:
    """The line of a tool's stderr that says what went wrong, on one line."""
    lines = [" ".join(line.split()) for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    for line in lines:
        if "error:" in line or "FATAL:" in line:
            return line
    return lines[-1] if lines else fallback


def target_name(text: str) -> str:
    """A file-name-safe archive target for a database name."""
    name = _UNSAFE.sub("_", text)
    return name if name.strip(".") else f"db_{name}"


def source_prefix(job: JobConfig, source: object, server: Server) -> str:
    """``''`` for a job with one source, else ``host_port_`` naming this source's server.

    The core refuses a target name twice in one job, so per-server archives (globals, a base backup) of a job
    with several sources carry the server in their name; two sources on the same server add their position.
    """
    if len(job.sources) <= 1:
        return ""
    servers = [Server.from_config(other.connect) for other in job.sources]
    index = next((i for i, other in enumerate(job.sources) if other is source), 0)

    def key(s: Server) -> str:
        host = "local" if s.host is None or s.host.startswith("/") else s.host
        return target_name(f"{host}_{s.port or 5432}")

    mine = key(server)
    if sum(key(other) == mine for other in servers) > 1:
        mine = f"{mine}_{index + 1}"
    return f"{mine}_"
