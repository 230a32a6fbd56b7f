"""Connection details: the private pgpass file, connection strings for any name, archive names, config errors."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from corral import DumpError
from corral.config import load_config
from corral.errors import ConfigError
from corral_source_postgresql.connection import Server, client_env, target_name
from corral_source_postgresql.databases import select
from corral_source_postgresql.options import Connect
from corral_source_postgresql.programs import locate
from corral_testservers import Postgres

AWKWARD_PASSWORD = "pa:ss\\wo rd'\"*#"


def test_awkward_password_reaches_the_server_through_the_pgpass_file(pg: Postgres, tmp_path: Path) -> None:
    """A password with `:`, `\\`, quotes and spaces is escaped for pgpass and accepted by the real server; the
    file is private while it exists and gone afterwards, and an inherited PGPASSWORD cannot override it."""
    with psycopg.connect(**pg.connect_kwargs(), autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS corral_awkward")
        conn.execute(psycopg.sql.SQL("CREATE ROLE corral_awkward LOGIN PASSWORD {}").format(AWKWARD_PASSWORD))
    server = Server.from_config(Connect(db_host=pg.host, db_port=pg.port, db_user="corral_awkward",
                                        db_password=AWKWARD_PASSWORD))
    os.environ["PGPASSWORD"] = "inherited-and-wrong"
    try:
        with client_env(server, tmp_path) as env:
            (passfile,) = tmp_path.glob(".pgpass-*")
            assert passfile.stat().st_mode & 0o777 == 0o600
            assert "PGPASSWORD" not in env and env["PGPASSFILE"] == str(passfile)
            done = subprocess.run(["psql", "-X", "-w", "-A", "-t", "-d", server.conninfo("postgres"),
                                   "-c", "SELECT current_user"], env=env, capture_output=True, text=True)
    finally:
        del os.environ["PGPASSWORD"]
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "corral_awkward"
    assert AWKWARD_PASSWORD not in server.conninfo("postgres")
    assert list(tmp_path.iterdir()) == []


def test_database_names_of_any_shape_reach_pg_dump(pg: Postgres, tmp_path: Path) -> None:
    """Quotes, `=`, spaces and backslashes in a database name survive the connection string."""
    name = "we=ird 'db\\ ü"
    with psycopg.connect(**pg.connect_kwargs(), autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {}").format(psycopg.sql.Identifier(name)))
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    server = Server.from_config(Connect(db_host=pg.host, db_port=pg.port, db_user=pg.user, db_password=pg.password))
    try:
        with client_env(server, tmp_path) as env:
            done = subprocess.run(["psql", "-X", "-w", "-A", "-t", "-d", server.conninfo(name),
                                   "-c", "SELECT current_database()"], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == name
        assert target_name(name) == "we=ird_db_ü"
    finally:
        with psycopg.connect(**pg.connect_kwargs(), autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("DROP DATABASE {}").format(psycopg.sql.Identifier(name)))


def test_socket_file_gives_directory_and_port() -> None:
    server = Server.from_config(Connect(socket="/run/postgresql/.s.PGSQL.5433", db_user="postgres"))
    assert (server.host, server.port) == ("/run/postgresql", 5433)
    assert server.label == "`postgres@/run/postgresql:5433`"
    assert Server.from_config(Connect(socket="/run/postgresql")).host == "/run/postgresql"


def test_auth_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    pgpass = tmp_path / "pgpass"
    pgpass.write_text("*:*:*:*:secret\n")
    pgpass.chmod(0o644)
    server = Server.from_config(Connect(auth_file=pgpass))
    with pytest.raises(DumpError, match="readable by others and libpq would ignore it: chmod 600"), \
            client_env(server, tmp_path):
        pass
    with pytest.raises(DumpError, match="cannot be read"), \
            client_env(Server.from_config(Connect(auth_file=tmp_path / "missing")), tmp_path):
        pass


def test_select_applies_excludes_to_all_only() -> None:
    existing = ["app", "postgres", "shop"]
    assert select(["all"], ["postgres"], existing) == (["app", "shop"], [])
    assert select(["postgres", "nope", "shop"], ["postgres"], existing) == (["postgres", "shop"], ["nope"])


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("compression: zstd\n    gzip: yes", "`gzip: yes` contradicts `compression: zstd`"),
        ("connect: {db_password: hunter2-secret, auth_file: /etc/pgpass}", "give either `db_password` or `auth_file`"),
        ("connect: {db_host: h, socket: /run/postgresql}", "give either `db_host` or `socket`"),
        ("target: [all, shop]", "list either `all` or database names"),
        ("extra_keys: '--exclude-table=\"x'", "`sources[0].extra_keys`: cannot split into arguments"),
        ("format: directory", "`sources[0].format`"),
        ("connect: {db_prot: 5432}", "did you mean `db_port`?"),
    ],
)
def test_config_mistakes_are_one_line_each(tmp_path: Path, source: str, message: str) -> None:
    (tmp_path / "main.conf").write_text(f"""\
main:
  general_path_to_all_tmp_dir: {tmp_path}
jobs:
- job: pg
  type: postgresql
  sources:
  - {source}
  storages:
  - storage: local
    backup_dir: {tmp_path}/b
""")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "main.conf")
    (problem,) = caught.value.problems
    assert message in problem and "job `pg`" in problem
    assert "hunter2-secret" not in problem


def test_debian_pg_wrapper_is_bypassed_for_the_newest_version() -> None:
    """Debian's /usr/bin/pg_dump is a Perl wrapper costing 0.1-0.3 s a call; corral runs the binary it would
    pick for a remote server (the newest) directly."""
    wrapper = shutil.which("pg_dump")
    if wrapper is None or os.path.basename(os.path.realpath(wrapper)) != "pg_wrapper":
        pytest.skip("pg_dump here is not Debian's pg_wrapper")
    newest = max(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"), key=lambda p: int(p.parent.parent.name))
    assert locate("pg_dump", "zstd") == {"pg_dump": str(newest), "zstd": shutil.which("zstd")}
    with pytest.raises(DumpError, match=r"^`pg_nothing` is not installed \(apt install postgresql-client\)$"):
        locate("pg_nothing")
