"""Shared pieces: awkward data on the session's PostgreSQL 15, a second server to restore into, and a runner for
the real ``corral`` command with configs in the article's format."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest

from corral_testservers import Postgres, start_postgres
from corral_testservers.ports import free_port
from corral_testservers.processes import running

CORRAL = Path(sys.executable).parent / "corral"
NOW = "2026-01-31T03:00:00"
STAMP = "2026-01-31_03-00-00"
OWNER = "corral_shop_owner"
OWNER_PASSWORD = "owner-secret-8c1f"

SHOP_SQL = [
    f"CREATE SCHEMA sales AUTHORIZATION {OWNER}",
    'CREATE SCHEMA "Ärger ünicode"',
    "CREATE TABLE public.blobs (id serial PRIMARY KEY, data bytea, note text)",
    # every byte value, a 1 MiB blob of random bytes, an empty blob and a NULL
    "INSERT INTO blobs (data, note) SELECT decode(string_agg(lpad(to_hex(b), 2, '0'), '' ORDER BY b), 'hex'), "
    "'all 256 byte values' FROM generate_series(0, 255) b",
    "INSERT INTO blobs (data, note) SELECT string_agg(decode(md5(random()::text || g), 'hex'), ''), '1 MiB random' "
    "FROM generate_series(1, 65536) g",
    "INSERT INTO blobs (data, note) VALUES ('', 'empty'), (NULL, NULL)",
    "CREATE TABLE sales.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer text NOT NULL, "
    "amount numeric(12, 2), at timestamptz, tags text[], meta jsonb)",
    "INSERT INTO sales.orders (customer, amount, at, tags, meta) VALUES "
    "('Zoë 🐄 مرحبا 漢字', 12.50, '2026-01-01 10:00+03', ARRAY['a,b', 'c\"d', NULL], '{\"k\": [1, \"ü\", null]}'), "
    "(E'tab\\there\\nnew line \\\\ back\\\\slash', 0.01, NULL, '{}', 'null'), "
    "('quote '' and \"double\"', -999999999.99, 'infinity', NULL, NULL)",
    "INSERT INTO sales.orders (customer, amount) SELECT 'customer ' || g, g * 1.5 FROM generate_series(1, 5000) g",
    # one row of about 12 MB (4 million 3-byte characters)
    "CREATE TABLE sales.notes (id int PRIMARY KEY, body text)",
    "INSERT INTO sales.notes VALUES (1, repeat('€', 4000000))",
    f"ALTER TABLE sales.orders OWNER TO {OWNER}",
    "CREATE VIEW sales.big_orders AS SELECT customer, amount FROM sales.orders WHERE amount > 1000",
    "CREATE FUNCTION sales.total(who text) RETURNS numeric LANGUAGE plpgsql STABLE AS "
    "$$ BEGIN RETURN (SELECT coalesce(sum(amount), 0) FROM sales.orders WHERE customer = who); END $$",
    "CREATE SEQUENCE sales.invoice_no START 1000",
    "SELECT nextval('sales.invoice_no') FROM generate_series(1, 7)",
    'CREATE TABLE "Ärger ünicode"."Tabelle ✓" (schlüssel text PRIMARY KEY, wert text)',
    'INSERT INTO "Ärger ünicode"."Tabelle ✓" VALUES (\'ß\', \'👍🏽\'), (\'\', NULL)',
]
BLOG_SQL = [
    "CREATE TABLE posts (id int PRIMARY KEY, title text, body text)",
    "INSERT INTO posts SELECT g, 'post ' || g, md5(g::text) FROM generate_series(1, 300) g",
]


@dataclass
class Result:
    code: int
    stderr: str
    log: str


@dataclass
class Corral:
    """The real ``corral start`` with a main file under ``tmp_path`` and the given job files."""

    tmp_path: Path

    def start(self, jobs: str, selection: str = "all", env: dict[str, str] | None = None,
              small_tmp: Path | None = None) -> Result:
        """``small_tmp``: a 2 MiB tmpfs is mounted there for the run, in a private mount namespace (root only)."""
        conf = self.tmp_path / "conf.d"
        conf.mkdir(exist_ok=True)
        (conf / "jobs.conf").write_text(jobs)
        main = self.tmp_path / "corral.conf"
        main.write_text(
            "main:\n  server_name: test\n"
            f"  general_path_to_all_tmp_dir: {self.tmp_path / 'tmp'}\n"
            f"  lock_file: {self.tmp_path / 'corral.lock'}\n"
            f"  log_file_name: {self.tmp_path / 'corral.log'}\n"
            "jobs: !include [conf.d/*.conf]\n"
        )
        done = self.popen(main, selection, env, small_tmp).communicate(timeout=300)
        log = (self.tmp_path / "corral.log").read_text() if (self.tmp_path / "corral.log").exists() else ""
        return Result(self.last.returncode, done[1], log)

    def popen(self, main: Path, selection: str, env: dict[str, str] | None = None,
              small_tmp: Path | None = None) -> subprocess.Popen[str]:
        full_env = {**os.environ, "CORRAL_NOW": NOW, **(env or {})}
        command = [str(CORRAL), "start", "-c", str(main), selection]
        if small_tmp is not None:
            small_tmp.mkdir(mode=0o700, exist_ok=True)
            command = ["unshare", "-m", "sh", "-c", 'mount -t tmpfs -o size=2m,mode=0700 none "$0" && shift && '
                       'exec "$@"', str(small_tmp), "--", *command]
        self.last = subprocess.Popen(
            command, env=full_env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        return self.last

    def stored(self, backup_dir: Path) -> dict[str, Path]:
        """Every stored archive below ``backup_dir``, by file name (not the checksum manifests and run records
        beside them)."""
        return {path.name: path for path in backup_dir.rglob("*")
                if path.is_file() and not {".manifests", ".runs"} & set(path.parts)}


@pytest.fixture
def corral(tmp_path: Path) -> Corral:
    return Corral(tmp_path)


def connect_yaml(server: Postgres, password: str | None = None, indent: str = "      ") -> str:
    lines = [f"db_host: {server.host}", f"db_port: {server.port}", f"db_user: {server.user}",
             f"db_password: '{password if password is not None else server.password}'"]
    return "".join(f"{indent}{line}\n" for line in lines)


def psql(server: Postgres, dbname: str, sql: str, *, socket: bool = False) -> str:
    """Run SQL with psql (over the server's socket with trust, or TCP with the password); returns stdout."""
    host = str(server.socket_dir) if socket else server.host
    env = {**os.environ, "PGPASSWORD": server.password, "PGCLIENTENCODING": "UTF8"}
    done = subprocess.run(
        [str(server.bin_dir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", host,
         "-p", str(server.port), "-U", server.user, "-d", dbname, "-c", sql],
        env=env, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def shell(command: str, server: Postgres, *, socket: bool = False) -> subprocess.CompletedProcess[str]:
    """A restore pipeline as a user would type it, with the server's PG* variables set."""
    env = {**os.environ, **server.env(), "PATH": f"{server.bin_dir}:{os.environ['PATH']}"}
    if socket:
        env["PGHOST"] = str(server.socket_dir)
    return subprocess.run(["bash", "-o", "pipefail", "-c", command], env=env, capture_output=True, text=True,
                          check=False)


def dump_text(server: Postgres, dbname: str, *, socket: bool = False) -> str:
    """A plain pg_dump of a database: schema and data in a stable order, to compare two databases."""
    done = shell(f"pg_dump -d '{dbname}'", server, socket=socket)
    assert done.returncode == 0, done.stderr
    return "\n".join(line for line in done.stdout.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


def _create(server: Postgres, name: str, statements: list[str], owner: str | None = None) -> None:
    with psycopg.connect(**server.connect_kwargs(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"' + (f" OWNER {owner}" if owner else ""))
    with psycopg.connect(**{**server.connect_kwargs(), "dbname": name}, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


@pytest.fixture(scope="session")
def pg(postgres_server: Postgres) -> Postgres:
    """The session's server with the test databases: corral_shop (awkward data), corral_blog, corral_skip."""
    with psycopg.connect(**postgres_server.connect_kwargs(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [OWNER]).fetchone()
        if not exists:
            conn.execute(f"CREATE ROLE {OWNER} LOGIN PASSWORD '{OWNER_PASSWORD}'")
    _create(postgres_server, "corral_shop", SHOP_SQL, owner=OWNER)
    _create(postgres_server, "corral_blog", BLOG_SQL)
    _create(postgres_server, "corral_skip", BLOG_SQL)
    return postgres_server


@pytest.fixture(scope="session")
def restore_pg(corral_servers_root: Path) -> Iterator[Postgres]:
    """A second, empty PostgreSQL 15 to restore into (reached over its socket: restoring the globals replaces
    the `postgres` role's password with the source server's)."""
    with start_postgres(corral_servers_root) as server:
        yield server


@contextlib.contextmanager
def serve(pg: Postgres, data: Path, folder: Path) -> Iterator[Postgres]:
    """A postgres started as user postgres on the data directory ``data`` (a restored one), on a free port, its
    socket and log in ``folder`` (owned by postgres), stopped at the end."""
    port = free_port()
    argv = [str(pg.bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(folder),
            "-c", "listen_addresses=", "-c", "logging_collector=off"]

    def ready() -> bool:
        probe = [str(pg.bin_dir / "pg_isready"), "-q", "-h", str(folder), "-p", str(port)]
        return subprocess.run(probe, capture_output=True, check=False).returncode == 0

    with running(argv, what="restored postgres", log=folder / "log", ready=ready, timeout=60, user="postgres",
                 cwd=folder, stop_signal=signal.SIGINT):
        yield Postgres(pg.host, port, pg.user, pg.password, pg.dbname, data, folder, pg.bin_dir, folder / "log")


@pytest.fixture(scope="session")
def tools() -> SimpleNamespace:
    """The helpers above for the test modules (pytest's importlib mode cannot import conftest)."""
    return SimpleNamespace(psql=psql, shell=shell, serve=serve,
                           dump_text=dump_text, connect_yaml=connect_yaml, STAMP=STAMP,
                           OWNER=OWNER, OWNER_PASSWORD=OWNER_PASSWORD)
