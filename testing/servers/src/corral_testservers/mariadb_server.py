"""MariaDB (Debian's mariadb-server): a fresh datadir, a TCP port, a Unix socket and a password user."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .credentials import new_password
from .ports import HOST, free_port, port_open
from .prerequisites import require_executable
from .processes import run_checked, running
from .workdirs import instance_dir, socket_path, write_private


@dataclass(frozen=True)
class MariaDB:
    """A running MariaDB server. ``user`` has ALL privileges WITH GRANT OPTION over TCP and the socket;
    ``root`` has no password and works over the socket only."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    socket: Path
    datadir: Path
    defaults_file: Path  # [client] option file with host/port/user/password, for --defaults-extra-file
    log: Path

    @property
    def url(self) -> str:
        return f"mysql://{self.user}:{self.password}@{self.host}:{self.port}"

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``pymysql.connect``."""
        return {"host": self.host, "port": self.port, "user": self.user, "password": self.password}


@contextlib.contextmanager
def start_mariadb(tmp: Path, *, user: str = "corral", timeout: float = 90.0) -> Iterator[MariaDB]:
    """Initialise a datadir under ``tmp`` and run ``mariadbd`` on a free port until the block exits."""
    install_db = require_executable("mariadb-install-db", apt="mariadb-server")
    mariadbd = require_executable("mariadbd", apt="mariadb-server")
    client = require_executable("mariadb", apt="mariadb-client")
    base = instance_dir(tmp, "mariadb")
    datadir = base / "data"
    sock = socket_path(base, "mysqld.sock")
    log = base / "mariadbd.log"
    port = free_port()
    password = new_password()

    run_checked(
        [install_db, "--no-defaults", "--user=root", f"--datadir={datadir}",
         "--auth-root-authentication-method=normal", "--skip-test-db"],
        what="mariadb-install-db", log=base / "install.log", timeout=timeout,
    )  # fmt: skip
    argv = [
        mariadbd, "--no-defaults", "--user=root", f"--datadir={datadir}", f"--socket={sock}",
        f"--port={port}", f"--bind-address={HOST}", f"--pid-file={base / 'mariadbd.pid'}",
        f"--log-bin={base / 'binlog'}", "--server-id=1", "--innodb-buffer-pool-size=64M",
        "--innodb-log-file-size=16M", "--skip-name-resolve",
    ]  # fmt: skip
    with running(
        argv, what="mariadbd", log=log, timeout=timeout, ready=lambda: port_open(port) and sock.exists()
    ):
        sql = "".join(
            f"CREATE USER '{user}'@'{h}' IDENTIFIED BY '{password}';"
            f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@'{h}' WITH GRANT OPTION;"
            for h in (HOST, "localhost")
        )
        run_checked(
            [client, "--no-defaults", f"--socket={sock}", "-uroot"],
            what="creating the MariaDB user",
            log=base / "setup.log",
            input=sql.encode(),
            timeout=30,
        )
        defaults = write_private(
            base / "client.cnf", f"[client]\nhost={HOST}\nport={port}\nuser={user}\npassword={password}\n"
        )
        yield MariaDB(HOST, port, user, password, sock, datadir, defaults, log)
