"""PostgreSQL 15 (Debian's postgresql-15), run as the ``postgres`` Unix user with wal_level=replica."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .credentials import new_password
from .ports import HOST, free_port
from .prerequisites import missing, require_root
from .processes import run_checked, running
from .workdirs import instance_dir, require_traversable, socket_path, write_private

APT = "postgresql-15"
VERSION = "15"


@dataclass(frozen=True)
class Postgres:
    """A running PostgreSQL server. ``user`` is a superuser (replication allowed) with a SCRAM password
    over TCP; local socket connections are trusted."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    dbname: str
    datadir: Path
    socket_dir: Path
    bin_dir: Path  # pg_dump, pg_dumpall, pg_basebackup, psql of the server's version
    log: Path

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.dbname}"

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``psycopg.connect``."""
        return {
            "host": self.host, "port": self.port, "user": self.user,
            "password": self.password, "dbname": self.dbname,
        }  # fmt: skip

    def env(self) -> dict[str, str]:
        """PG* variables for the command-line tools (add them to ``os.environ``)."""
        return {
            "PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user,
            "PGPASSWORD": self.password, "PGDATABASE": self.dbname,
        }  # fmt: skip


def find_bin_dir() -> Path:
    """The server binaries: ``$CORRAL_PG_BIN``, else Debian's PostgreSQL 15, else the newest installed."""
    override = os.environ.get("CORRAL_PG_BIN")
    candidates = [Path(override)] if override else []
    candidates.append(Path(f"/usr/lib/postgresql/{VERSION}/bin"))
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    )
    for candidate in candidates:
        if (candidate / "postgres").is_file() and (candidate / "initdb").is_file():
            return candidate
    missing("PostgreSQL server (initdb, postgres)", f"apt-get install -y {APT}")


def _ready(bin_dir: Path, port: int) -> bool:
    probe = [str(bin_dir / "pg_isready"), "-q", "-h", HOST, "-p", str(port), "-t", "1"]
    return subprocess.run(probe, check=False, capture_output=True).returncode == 0


@contextlib.contextmanager
def start_postgres(
    tmp: Path, *, user: str = "postgres", dbname: str = "postgres", timeout: float = 60.0
) -> Iterator[Postgres]:
    """initdb a cluster under ``tmp`` (which other users must be able to traverse) and run it."""
    bin_dir = find_bin_dir()
    require_root("PostgreSQL (initdb refuses root; the server runs as `postgres`)")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        missing("the `postgres` Unix user", f"apt-get install -y {APT}")
    base = instance_dir(tmp, "postgres", mode=0o700)
    require_traversable(base.parent, "PostgreSQL")
    shutil.chown(base, "postgres", "postgres")
    datadir = base / "data"
    socket_path(base, f".s.PGSQL.{65535}")
    log = base / "postgres.log"
    port = free_port()
    password = new_password()

    pwfile = write_private(base / "pwfile", password + "\n", owner="postgres")
    try:
        run_checked(
            [str(bin_dir / "initdb"), "-D", str(datadir), "-U", user, f"--pwfile={pwfile}",
             "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
            what="initdb", log=base / "initdb.log", user="postgres", cwd=base, timeout=timeout,
        )  # fmt: skip
    finally:
        pwfile.unlink()
    argv = [
        str(bin_dir / "postgres"), "-D", str(datadir), "-p", str(port), "-k", str(base),
        "-c", f"listen_addresses={HOST}", "-c", "wal_level=replica", "-c", "max_wal_senders=4",
        "-c", "fsync=off", "-c", "logging_collector=off",
    ]  # fmt: skip
    with running(
        argv, what="postgres", log=log, user="postgres", cwd=base, timeout=timeout,
        ready=lambda: _ready(bin_dir, port), stop_signal=signal.SIGINT,  # SIGINT = fast shutdown
    ):  # fmt: skip
        yield Postgres(HOST, port, user, password, dbname, datadir, base, bin_dir, log)
