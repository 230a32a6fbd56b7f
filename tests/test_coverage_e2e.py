"""Coverage end to end: the shared fixture server (nginx and Apache vhosts, one project of each CMS) copied, its
sites' databases created on the suite's real MariaDB and PostgreSQL, a config that covers some of them;
``corral check --coverage`` names exactly the uncovered ones, and ``corral start`` warns in its log and writes
the counts to the Prometheus textfile."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pymysql
import pytest

from corral.testing.cli import corral, local_storage, write_main
from corral_testservers import MariaDB, Postgres

FIXTURE = Path(__file__).parent / "data" / "discover" / "server"
MYSQL_DATABASES = ["shop_bitrix", "blog_wp", "drupal_portal", "joomla_news", "cov_orphan"]
PG_DATABASES = ["symfony_api", "tracker"]


@pytest.fixture
def server(tmp_path: Path, postgres_server: Postgres) -> Path:
    """The fixture server's copy. Its PostgreSQL sites point at the suite's server (port rewritten); the Laravel
    CRM's database is on a host no job knows. MySQL sites say `localhost` or 127.0.0.1:3306: the job reaches the
    suite's MariaDB through its socket, which is the local default server for coverage as for the client."""
    root = tmp_path / "server"
    shutil.copytree(FIXTURE, root, symlinks=True)
    www = root / "var" / "www"
    for env in (www / "tracker" / ".env", www / "api" / ".env.local"):
        env.write_text(env.read_text().replace("@127.0.0.1:5432/", f"@127.0.0.1:{postgres_server.port}/"))
    crm = www / "crm" / ".env"
    crm.write_text(crm.read_text().replace("DB_HOST=127.0.0.1", "DB_HOST=db.internal.example.com"))
    return root


def _execute(mariadb: MariaDB, pg: Postgres, mysql_statements: list[str], pg_statements: list[str]) -> None:
    with pymysql.connect(unix_socket=str(mariadb.socket), user=mariadb.user, password=mariadb.password,
                         autocommit=True) as conn, conn.cursor() as cursor:
        for statement in mysql_statements:
            cursor.execute(statement)
    with psycopg.connect(**pg.connect_kwargs(), autocommit=True) as conn:
        for statement in pg_statements:
            conn.execute(statement)


@pytest.fixture
def databases(mariadb_server: MariaDB, postgres_server: Postgres) -> Iterator[None]:
    drop_pg = [f'DROP DATABASE IF EXISTS "{name}"' for name in PG_DATABASES]
    _execute(mariadb_server, postgres_server, [f"CREATE DATABASE IF NOT EXISTS `{name}`" for name in MYSQL_DATABASES],
             [*drop_pg, *(f'CREATE DATABASE "{name}"' for name in PG_DATABASES)])
    yield
    _execute(mariadb_server, postgres_server, [f"DROP DATABASE IF EXISTS `{name}`" for name in MYSQL_DATABASES],
             drop_pg)


def config(tmp_path: Path, www: Path, mariadb: MariaDB, pg: Postgres) -> Path:
    """Files: most sites by name, landing excluded, only the Drupal portal's web/ folder, the CRM in none.
    Databases: every MySQL database but `joomla_*` and `cov_*`; every PostgreSQL one but `tracker`."""
    backups = local_storage(tmp_path / "backups")
    jobs = [
        {"job": "sites", "type": "desc_files", "storages": [backups], "sources": [{
            "target": [str(www / name) for name in ("shop.example.com", "blog", "news", "api", "tracker", "landing")],
            "excludes": ["bitrix/cache", str(www / "landing")]}]},
        {"job": "portal-web", "type": "desc_files", "storages": [backups],
         "sources": [{"target": [str(www / "portal" / "web")]}]},
        {"job": "mysql-dbs", "type": "mysql", "storages": [backups], "sources": [{
            "connect": {"socket": str(mariadb.socket), "db_user": mariadb.user, "db_password": mariadb.password},
            "target": ["all"], "excludes": ["information_schema", "performance_schema", "mysql", "sys", "joomla_*",
                                            "cov_*"]}]},
        {"job": "pg", "type": "postgresql", "storages": [backups], "sources": [{
            "connect": {"db_host": "127.0.0.1", "db_port": pg.port, "db_user": pg.user, "db_password": pg.password},
            "target": ["all"], "excludes": ["postgres", "tracker"]}]},
    ]
    return write_main(tmp_path, jobs, coverage_root=str(www.parent.parent),
                      prometheus_textfile=str(tmp_path / "corral.prom"))


def expected(www: Path, mariadb: MariaDB, pg: Postgres) -> list[str]:
    mysql, postgresql = f"mysql socket {mariadb.socket}", f"postgresql {pg.user}@127.0.0.1:{pg.port}"
    mysql_hint = "add it to the target of job `mysql-dbs` (or take it out of its excludes)"
    return [
        f"site landing.example.com ({www}/landing) is excluded from files job `sites` by `{www}/landing`: take it "
        "out of the excludes",
        f"site crm.example.com ({www}/crm) is in no files job: add `{www}/crm` to the target of files job `sites`",
        f"site portal.example.com ({www}/portal) is only partly in files job `portal-web` (target "
        f"`{www}/portal/web`): add `{www}/portal` to its target",
        f"database `cov_orphan` on {mysql} is dumped by no job: {mysql_hint}",
        f"database `joomla_news` on {mysql} (site news.example.com) is dumped by no job: {mysql_hint}",
        f"database `tracker` on {postgresql} (site tracker.example.com) is dumped by no job: add it to the target "
        "of job `pg` (or take it out of its excludes)",
        f"database `laravel_crm` on mysql db.internal.example.com:3306 (site crm.example.com, read from "
        f"{www}/crm/.env) is on a server no job knows: add a mysql job for it (`corral discover` writes one)",
    ]


@pytest.mark.usefixtures("databases")
def test_check_and_start_name_exactly_what_no_job_backs_up(
    tmp_path: Path, server: Path, mariadb_server: MariaDB, postgres_server: Postgres
) -> None:
    www = server / "var" / "www"
    main = config(tmp_path, www, mariadb_server, postgres_server)
    env = {"PATH": f"{postgres_server.bin_dir}:{os.environ['PATH']}"}
    want = expected(www, mariadb_server, postgres_server)

    checked = corral("check", "--coverage", "-c", str(main), env=env)
    assert checked.returncode == 1, checked.stderr
    assert checked.stdout.splitlines() == [f"not backed up: {line}" for line in want]
    assert "corral: warning: coverage:" not in checked.stderr  # every file read, every server listed
    assert mariadb_server.password not in checked.stdout + checked.stderr

    as_json = json.loads(corral("check", "--coverage", "--json", "-c", str(main), env=env).stdout)
    assert as_json["coverage"] == {"root": str(server), "sites": want[:3], "databases": want[3:], "problems": []}

    started = corral("start", "sites", "-c", str(main), env=env)
    assert started.returncode == 0, started.stderr  # what no job backs up is a warning, never a failed run
    log = (tmp_path / "log" / "corral.log").read_text()
    for line in want:
        assert f"[WARNING] not backed up: {line}" in log
    assert "coverage: 3 site(s) and 4 database(s) not backed up" in log
    metrics = (tmp_path / "corral.prom").read_text()
    assert "corral_uncovered_sites 3\n" in metrics and "corral_uncovered_databases 4\n" in metrics


def test_coverage_off_and_a_root_without_web_server(tmp_path: Path, server: Path) -> None:
    """`main: coverage: no` keeps `corral start` from looking; `check --coverage --root` of an empty folder finds
    no site and no database job: nothing to report."""
    www = server / "var" / "www"
    job = {"job": "sites", "type": "desc_files", "storages": [local_storage(tmp_path / "backups")],
           "sources": [{"target": [str(www / "landing")]}]}
    main = write_main(tmp_path, [job], coverage_root=str(server), coverage=False)
    started = corral("start", "-c", str(main))
    assert started.returncode == 0, started.stderr
    assert "not backed up" not in (tmp_path / "log" / "corral.log").read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    checked = corral("check", "--coverage", "--root", str(empty), "-c", str(main))
    assert (checked.returncode, checked.stdout) == (0, f"{main}: ok (1 job(s))\n")
    relative = corral("check", "--coverage", "--json", "--root", "empty", "-c", str(main), cwd=tmp_path)
    assert json.loads(relative.stdout)["coverage"] == {"root": str(empty), "sites": [], "databases": [],
                                                       "problems": []}


def test_what_corral_discover_writes_leaves_nothing_uncovered(tmp_path: Path) -> None:
    """Discovery and coverage agree: the jobs `corral discover` writes for the fixture server hold every enabled
    site and every database its sites use. Its database servers are not running here: each is one warning line
    naming the job and the server, never a guess and never a password."""
    root = tmp_path / "server"
    shutil.copytree(FIXTURE, root, symlinks=True)
    (tmp_path / "conf.d").mkdir()
    main = tmp_path / "corral.conf"
    main.write_text(f"main:\n  general_path_to_all_tmp_dir: {tmp_path / 'tmp'}\n  coverage_root: {root}\n"
                    "jobs: !include conf.d/*.conf\n")
    written = corral("discover", "--root", str(root), "--write", str(tmp_path / "conf.d" / "discovered.conf"),
                     "--backup-dir", str(tmp_path / "backups"), "-c", str(main))
    assert written.returncode == 0, written.stderr
    checked = corral("check", "--coverage", "-c", str(main))
    assert checked.returncode == 0, checked.stderr
    assert re.fullmatch(rf"{re.escape(str(main))}: ok \(\d+ job\(s\)\)\n", checked.stdout)
    warnings = checked.stderr.splitlines()
    assert warnings and all(line.startswith("corral: warning: coverage: job `") and ": cannot list the databases: "
                            in line for line in warnings)
    assert len(warnings) == len(set(warnings))
    assert not any(secret in checked.stderr for secret in ("crm#secret", "tracker-secret", "api%40secret"))
