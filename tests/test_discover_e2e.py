"""`corral discover` end to end: the fixture server tree (nginx and Apache vhosts, one project of each CMS) copied
and pointed at the session's real MariaDB and PostgreSQL, discovered through the real command, checked, run with
`corral start`, restored (a site's files, a database of each engine) and compared; then the tree changes (a site
added, one removed) and the re-run shows the diff and refuses to overwrite a hand-edited file."""

from __future__ import annotations

import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
import yaml

from corral.testing.cli import corral
from corral_testservers import MariaDB, Postgres

FIXTURE = Path(__file__).parent / "data" / "discover" / "server"
NOW = {"CORRAL_NOW": "2026-03-02T03:00:00"}
# the fixture's enabled sites and the logins its projects' settings name
ENABLED_SITES = {"shop.example.com", "blog.example.com", "crm.example.com", "api.example.com", "portal.example.com",
                 "news.example.com", "tracker.example.com", "landing.example.com"}
LOGINS = {  # database: engine, user, password
    "shop_bitrix": ("mysql", "shop", "Sh0p-secret"),
    "blog_wp": ("mysql", "wp", "wp-blog-pass"),
    "laravel_crm": ("mysql", "crm", "crm#secret"),
    "drupal_portal": ("mysql", "portal", "portal's-secret"),
    "joomla_news": ("mysql", "news", "news$secret"),
    "symfony_api": ("postgresql", "api", "api@secret"),
    "tracker": ("postgresql", "tracker", "tracker-secret"),
}
PASSWORDS = [password for _, _, password in LOGINS.values()] + ["legacy-secret"]
ON_SOCKET = ["shop.example.com/bitrix/.settings.php", "shop.example.com/bitrix/php_interface/dbconn.php",
             "news/configuration.php"]  # `localhost`: the session's MariaDB socket (host:/socket, as PHP reads it)


def _copy(mariadb: MariaDB, postgres: Postgres, into: Path) -> Path:
    """The fixture tree under ``into``, its projects' settings pointing at the test servers: ports 3306 and 5432
    become theirs; ``localhost`` (the default socket, which the test server does not use) becomes the MariaDB's
    socket for the shop and the news site, 127.0.0.1 for the portal."""
    root = into / "server"
    shutil.copytree(FIXTURE, root, symlinks=True)
    www = root / "var" / "www"
    for path in www.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        text = path.read_text(errors="surrogateescape")
        changed = text.replace("3306", str(mariadb.port)).replace("5432", str(postgres.port))
        relative = str(path.relative_to(www))
        for quote in "'\"":
            localhost = f"{quote}localhost{quote}"
            if relative in ON_SOCKET:
                changed = changed.replace(localhost, f"{quote}localhost:{mariadb.socket}{quote}")
            elif relative == "portal/web/sites/default/settings.php":
                changed = changed.replace(localhost, f"{quote}127.0.0.1{quote}")
        if changed != text:
            path.write_text(changed, errors="surrogateescape")
    return root


def _mysql(server: MariaDB, *statements: str, database: str | None = None) -> list[Any]:
    conn = pymysql.connect(**server.connect_kwargs(), autocommit=True, database=database)
    rows: list[Any] = []
    try:
        with conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
                rows = list(cursor.fetchall())
    finally:
        conn.close()
    return rows


def _pg(server: Postgres, dbname: str, *statements: str) -> list[Any]:
    import psycopg

    with psycopg.connect(**{**server.connect_kwargs(), "dbname": dbname}, autocommit=True) as conn:
        rows: list[Any] = []
        for statement in statements:
            cursor = conn.execute(statement)
            rows = cursor.fetchall() if cursor.description else []
        return rows


class _Loader(yaml.SafeLoader):
    """Reads a job file as YAML (the `!file` tag kept as its path)."""


_Loader.add_constructor("!file", lambda _, node: f"!file {node.value}")


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


@pytest.fixture
def served(mariadb_server: MariaDB, postgres_server: Postgres, tmp_path: Path) -> Iterator[Path]:
    """The copied tree, and its databases created on the real servers with their own logins and a few rows."""
    root = _copy(mariadb_server, postgres_server, tmp_path)
    for name, (engine, user, password) in LOGINS.items():
        if engine == "mysql":
            _mysql(mariadb_server, f"DROP DATABASE IF EXISTS `{name}`", f"CREATE DATABASE `{name}`",
                   f"CREATE TABLE `{name}`.t (v varchar(40))",
                   f"INSERT INTO `{name}`.t VALUES ('{name} row 1'), ('{name} row 2')")
            for host in ("%", "localhost", "127.0.0.1"):
                _mysql(mariadb_server, f"DROP USER IF EXISTS '{user}'@'{host}'",
                       f"CREATE USER '{user}'@'{host}' IDENTIFIED BY {_quote(password)}",
                       f"GRANT ALL ON `{name}`.* TO '{user}'@'{host}'")
        else:
            _pg(postgres_server, "postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                f'DROP ROLE IF EXISTS "{user}"', f'CREATE ROLE "{user}" LOGIN PASSWORD {_quote(password)}',
                f'CREATE DATABASE "{name}" OWNER "{user}"')
            _pg(postgres_server, name, f'SET ROLE "{user}"', "CREATE TABLE t (v text)",
                f"INSERT INTO t VALUES ('{name} row 1'), ('{name} row 2')")
    yield root
    for name, (engine, user, _) in LOGINS.items():
        if engine == "mysql":
            _mysql(mariadb_server, f"DROP DATABASE IF EXISTS `{name}`",
                   *(f"DROP USER IF EXISTS '{user}'@'{host}'" for host in ("%", "localhost", "127.0.0.1")))
        else:
            _pg(postgres_server, "postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                f'DROP DATABASE IF EXISTS "{name}_back" WITH (FORCE)', f'DROP ROLE IF EXISTS "{user}"')


def _main(tmp_path: Path) -> Path:
    etc = tmp_path / "etc" / "corral"
    (etc / "conf.d").mkdir(parents=True)
    main = etc / "corral.conf"
    main.write_text(f"main:\n  server_name: web-01\n  general_path_to_all_tmp_dir: {tmp_path}/work\n"
                    f"  log_file_name: {tmp_path}/log/corral.log\njobs: !include [conf.d/*.conf]\n")
    return main


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def _no_password(*texts: str) -> None:
    for password in PASSWORDS:
        for text in texts:
            assert password not in text, "a password is shown"


def test_discover_writes_jobs_that_back_up_and_restore(served: Path, mariadb_server: MariaDB,
                                                       postgres_server: Postgres, tmp_path: Path) -> None:
    root = served
    main = _main(tmp_path)
    target = main.parent / "conf.d" / "discovered.conf"
    discover = ["discover", "--root", str(root), "--write", str(target), "--backup-dir", str(tmp_path / "backups"),
                "-c", str(main)]
    done = corral(*discover)
    assert done.returncode == 0, done.stdout + done.stderr
    _no_password(done.stdout, done.stderr, target.read_text())
    lines = done.stdout.splitlines()
    assert len([line for line in lines if line.startswith(("nginx ", "apache "))]) >= len(ENABLED_SITES), lines
    assert any(line.startswith("skipped apache legacy.example.com") for line in lines), lines
    text = target.read_text()
    for name in ENABLED_SITES:
        assert f"- job: {name}\n" in text, name
    jobs = {job["job"]: job for job in yaml.load(text, Loader=_Loader)}
    mysql, pg = f"mysql-127.0.0.1-{mariadb_server.port}", f"postgresql-127.0.0.1-{postgres_server.port}"
    targets = {name: {t for source in jobs[name]["sources"] for t in source["target"]}
               for name in (mysql, pg, "mysql-mysqld.sock")}
    assert targets == {mysql: {"blog_wp", "laravel_crm", "drupal_portal"}, "mysql-mysqld.sock": {
        "shop_bitrix", "joomla_news"}, pg: {"symfony_api", "tracker"}}, targets
    assert set(jobs) == ENABLED_SITES | set(targets)
    assert "legacy_wp" not in text
    credentials = main.parent / "conf.d" / "discovered.credentials"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o700 and stat.S_IMODE(target.stat().st_mode) == 0o600
    secrets = sorted(credentials.iterdir())
    assert len(secrets) == len(LOGINS) and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in secrets), secrets
    assert "does not include" not in done.stdout and "note: include" not in done.stdout

    check = corral("check", "-c", str(main))
    assert check.returncode == 0, check.stdout + check.stderr
    start = corral("start", "-c", str(main), env=NOW)
    log = (tmp_path / "log" / "corral.log").read_text()
    assert start.returncode == 0, start.stdout + start.stderr + log
    _no_password(start.stdout, start.stderr, log, check.stdout, check.stderr)

    # a site's files, with the cache the job leaves out
    blog = root / "var/www/blog"
    back = tmp_path / "restored-blog"
    restore = corral("restore", "blog.example.com", "--target", str(blog), "--to", str(back), "-c", str(main))
    assert restore.returncode == 0, restore.stdout + restore.stderr
    restored = _tree(next(p for p in back.rglob("wp-config.php")).parent)
    excludes = tuple(f"{path}/" for path in jobs["blog.example.com"]["sources"][0]["excludes"])
    assert "wp-content/cache/" in excludes and "wp-config.php" in restored
    assert restored == {k: v for k, v in _tree(blog).items() if not k.startswith(excludes)}

    # a MySQL database lost and put back by its own login (the job's source), over the live one
    _mysql(mariadb_server, "DELETE FROM blog_wp.t")
    job = f"mysql-127.0.0.1-{mariadb_server.port}"
    restore = corral("restore", job, "--target", "blog_wp", "--force", "-c", str(main))
    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert sorted(_mysql(mariadb_server, "SELECT v FROM blog_wp.t")) == [("blog_wp row 1",), ("blog_wp row 2",)]

    # a PostgreSQL database restored beside the live one, by the superuser (libpq's own pgpass file)
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{postgres_server.port}:*:{postgres_server.user}:{postgres_server.password}\n")
    pgpass.chmod(0o600)
    job = f"postgresql-127.0.0.1-{postgres_server.port}"
    restore = corral("restore", job, "--target", "tracker", "--into",
                     f"{postgres_server.user}@127.0.0.1:{postgres_server.port}", "--as", "tracker_back",
                     "-c", str(main), env={"PGPASSFILE": str(pgpass)})
    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert sorted(_pg(postgres_server, "tracker_back", "SELECT v FROM t")) == [("tracker row 1",), ("tracker row 2",)]

    # the server changes: a site added, one removed; the re-run shows it and writes
    _change(root)
    again = corral(*discover)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "+- job: new.example.com" in again.stdout and "-- job: landing.example.com" in again.stdout
    assert f"wrote {target}" in again.stdout
    _no_password(again.stdout, again.stderr)
    assert corral("check", "-c", str(main)).returncode == 0

    # a hand edit: the next run shows the diff and refuses; --force overwrites
    edited = target.read_text().replace("days: 6", "days: 30", 1)
    target.write_text(edited)
    (root / "etc/nginx/sites-enabled/blog").unlink()
    refused = corral(*discover)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "-- job: blog.example.com" in refused.stdout
    assert refused.stderr.splitlines() == [f"corral: error: `{target}` was changed since corral discover wrote it: "
                                           "not overwritten (--force overwrites it; the diff above shows what would "
                                           "change)"]
    assert target.read_text() == edited
    forced = corral(*discover, "--force")
    assert forced.returncode == 0 and "- job: blog.example.com\n" not in target.read_text(), forced.stderr
    assert len(list(credentials.iterdir())) == len(LOGINS) - 1  # the blog's password is not kept


def _change(root: Path) -> None:
    """A new nginx site (a plain folder) and the landing page's vhost removed."""
    new = root / "var/www/new"
    new.mkdir()
    (new / "index.html").write_text("new\n")
    conf = root / "etc/nginx/conf.d"
    (conf / "new.example.com.conf").write_text(
        "server {\n    listen 80;\n    server_name new.example.com;\n    root /var/www/new;\n}\n")
    (conf / "landing.example.com.conf").unlink()


def test_without_write_nothing_is_written_and_no_password_shown(served: Path, tmp_path: Path) -> None:
    root = served
    before = {str(p) for p in tmp_path.rglob("*")}
    done = corral("discover", "--root", str(root), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# corral discover: sha256 ") and "!file 'discovered.credentials/" in done.stdout
    _no_password(done.stdout, done.stderr)
    assert {str(p) for p in tmp_path.rglob("*")} == before
