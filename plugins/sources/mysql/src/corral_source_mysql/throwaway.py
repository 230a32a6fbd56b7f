"""A MariaDB that a drill starts from the local binaries inside its scratch folder and throws away.

Everything is under ``SCRATCH/db`` (0700): the data directory (new from ``mariadb-install-db``, or a prepared
physical backup), the error log, the socket, the init file and the client's option file. ``mariadbd --no-defaults``
never reads the host's ``my.cnf``; it listens on no network port at all, only on its socket in the private folder (a
physical backup brings the production accounts and their passwords: nobody but root may reach them), writes files
(``SELECT ... INTO OUTFILE`` of an altered dump) only into an empty private folder of its own (``--secure-file-
priv``; it runs as root), reads no client file (``--local-infile=0``), with no binary log, no replication started (a
physical backup may name a primary), no event scheduler (restored events must not run), and
``innodb_fast_shutdown=3``: the data is thrown away, so stopping skips the flush. At start an ``--init-file``
creates the login corral and the command checks use: ``USER@localhost`` (USER: who runs corral, the client's default
name) with a random password, which only goes through the 0600 option file and ``MYSQL_PWD`` of the checks, never an
argument. The server is started with ``run.popen`` (stopped on SIGTERM, dies with corral) and stopped whatever
happens: SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral import RestoreError, RunContext
from corral_source_mysql import client, tools
from corral_source_mysql.optionfile import quote
from corral_source_mysql.restore import Server

READY_TIMEOUT = 900.0  # seconds: a prepared physical backup may roll back transactions before it listens
STOP_TIMEOUT = 10.0
SOCKET_PATH_MAX = 107  # sun_path
_SETTINGS = ("--skip-networking", "--local-infile=0", "--skip-name-resolve", "--skip-log-bin", "--skip-slave-start",
             "--event-scheduler=OFF", "--innodb-buffer-pool-size=128M", "--innodb-log-file-size=64M",
             "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--innodb-fast-shutdown=3",
             "--max-allowed-packet=1G", "--max-connections=20", "--performance-schema=OFF")  # fmt: skip


@dataclass(frozen=True)
class Throwaway:
    """A running throwaway server: its port and socket, the login corral uses (an option file)."""

    socket: Path
    user: str
    password: str
    options: Path

    def server(self) -> Server:
        return Server(f"the throwaway server at {self.socket}", (f"--defaults-file={self.options}",))

    def env(self, database: str | None) -> dict[str, str]:
        """For a command check: ``mariadb -e ...`` logs in as is. The MariaDB client reads no socket from the
        environment, and root's own ``~/.my.cnf`` may name a production server: ``HOME`` is the private folder,
        whose ``.my.cnf`` (the login's option file) is read last and wins."""
        found = {"HOME": str(self.options.parent), "MYSQL_UNIX_PORT": str(self.socket), "MYSQL_PWD": self.password}
        return found | ({"CORRAL_DRILL_DATABASE": database} if database is not None else {})


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return "corral"


def _private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    return path


def _last_error(log: Path) -> str:
    """The error log's last ``[ERROR]`` line (else its last line)."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no error log"
    errors = [line for line in lines if "[ERROR]" in line]
    return (errors or lines or ["nothing in its error log"])[-1][:300]


def _as_root() -> list[str]:
    return ["--user=root"] if os.geteuid() == 0 else []  # mariadbd refuses root without it


def install(run: RunContext, folder: Path) -> Path:
    """A fresh data directory in ``folder/data`` (``mariadb-install-db --no-defaults``, no test database)."""
    program = tools.find(("mariadb-install-db", "mysql_install_db"), apt="mariadb-server")
    data = folder / "data"
    done = run.run([program, "--no-defaults", *_as_root(), f"--datadir={data}", "--skip-test-db",
                    "--auth-root-authentication-method=socket"], cwd=folder, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        said = [line for line in (done.stderr + done.stdout).decode(errors="replace").splitlines() if line.strip()]
        raise RestoreError(f"mariadb-install-db of the throwaway server failed (exit {done.returncode}): "
                           f"{said[-1][:300] if said else 'no output'}")
    return data


def folder_in(scratch: Path) -> Path:
    """``SCRATCH/db`` (0700); refused when its socket's path would be too long for a Unix socket."""
    folder = scratch / "db"
    if len(str(folder / "sock")) > SOCKET_PATH_MAX:
        raise RestoreError(f"the throwaway server's socket would be `{folder / 'sock'}`, longer than a Unix socket "
                           f"path may be ({SOCKET_PATH_MAX}): give the job a shorter tmp_dir")
    folder.mkdir(mode=0o700)
    return folder


@contextlib.contextmanager
def started(run: RunContext, folder: Path, data: Path) -> Iterator[Throwaway]:
    """``mariadbd`` on ``data`` until the block exits, ready for logins."""
    program = tools.find(("mariadbd", "mysqld"), apt="mariadb-server")
    user, password = _user(), secrets.token_hex(16)
    sock, log, files = folder / "sock", folder / "error.log", folder / "files"
    files.mkdir(mode=0o700)
    account = "'" + user.replace("\\", "\\\\").replace("'", "''") + "'@'localhost'"
    init = _private(folder / "init.sql", f"CREATE OR REPLACE USER {account} IDENTIFIED BY '{password}';\n"
                                         f"GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION;\n")
    options = _private(folder / "client.cnf", "[client]\n" + "".join(
        f"{key}={quote(value)}\n" for key, value in (("socket", str(sock)), ("protocol", "SOCKET"),
                                                     ("user", user), ("password", password))))
    _private(folder / ".my.cnf", options.read_text())  # the checks' login (their HOME is this folder)
    argv = [program, "--no-defaults", *_as_root(), f"--datadir={data}", f"--socket={sock}",
            f"--secure-file-priv={files}", f"--pid-file={folder / 'mariadbd.pid'}", f"--init-file={init}", *_SETTINGS]
    with open(log, "wb") as errors:
        process = run.popen(argv, cwd=folder, stdin=subprocess.DEVNULL, stdout=errors, stderr=errors)
    try:
        server = Throwaway(sock, user, password, options)
        _wait_ready(run, process, server, log)
        yield server
    finally:
        _stop(run, process)


def _wait_ready(run: RunContext, process: subprocess.Popen[Any], server: Throwaway, log: Path) -> None:
    program = tools.find(tools.CLIENTS, apt="mariadb-client")
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RestoreError(f"the throwaway mariadbd exited (code {process.returncode}): {_last_error(log)}")
        if server.socket.is_socket():
            try:
                client.query(run, program, server.options, "SELECT 1", timeout=30)
                return
            except client.SQLError as exc:
                if time.monotonic() > deadline:
                    raise RestoreError(f"cannot log into the throwaway mariadbd: {exc}") from None
        if time.monotonic() > deadline:
            raise RestoreError(f"the throwaway mariadbd did not listen within {READY_TIMEOUT:g} s: "
                               f"{_last_error(log)}")
        time.sleep(0.1)


def _stop(run: RunContext, process: subprocess.Popen[Any]) -> None:
    """SIGTERM (a fast shutdown: nothing is flushed), then SIGKILL to its process group."""
    try:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    finally:
        run.forget(process)

