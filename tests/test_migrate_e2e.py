"""`corral migrate` end to end: every published nxs-backup example configuration (tests/data/nxs-backup) migrated
and checked with the real commands; then an `/etc/nxs-backup` with a desc_files, a mysql and a postgresql job
pointed at the session's real MariaDB and PostgreSQL, migrated, its old archives (named and foldered the
nxs-backup way) moved as the report says, run with `corral start`, whose rotation and `corral list` and `restore`
take the old copies over."""

from __future__ import annotations

import gzip
import io
import re
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pymysql
import pytest

from corral.testing.cli import corral
from corral_testservers import MariaDB, Postgres

DATA = Path(__file__).parent / "data" / "nxs-backup"
EXAMPLES = sorted(DATA.glob("*/*/nxs-backup.*"))
ENV = {"S3_SECRET_KEY": "example-s3-secret-key-from-env"}  # uralm1's `secret_access_key: ENV:S3_SECRET_KEY`
NOW = {"CORRAL_NOW": "2026-03-02T03:00:00"}  # a Monday; weeks start on Sunday (weekly_backup_day 7)
# what `corral check` still refuses once the user did what the report asks (known_hosts created): the 3.x
# examples' placeholder `url: my_webdav_url`, which the report names as one to write
_WEBDAV = "job `PROJECT-mysql-remotes`: `storages[6].url`: must be an http:// or https:// URL (got 'my_webdav_url')"
STILL_REFUSED = {"on-premise": [_WEBDAV], "docker-compose": [_WEBDAV]}


@pytest.mark.parametrize("main", EXAMPLES, ids=lambda path: "/".join(path.parts[-3:]))
def test_every_example_migrates_and_checks(main: Path, tmp_path: Path) -> None:
    out = tmp_path / "etc-corral"
    done = corral("migrate", "--from", str(main), "--to", str(out), env=ENV)
    assert done.returncode == 0 and not done.stderr, done.stderr
    needs = [line for line in done.stdout.splitlines() if "ssh-keyscan" in line or "no http:// or https://" in line]
    summary = done.stdout.splitlines()[-2]
    assert f", {len(needs)} to do before `corral check` passes" in summary, summary
    check = corral("check", "-c", str(out / "corral.conf"), env=ENV)
    ssh = [line for line in needs if "ssh-keyscan" in line]
    if ssh:  # nxs-backup never checked host keys: corral refuses until known_hosts exists
        assert check.returncode == 2 and "known_hosts` does not exist" in check.stderr
        (out / "known_hosts").write_text("")  # what `ssh-keyscan ... >> known_hosts` would fill
        check = corral("check", "-c", str(out / "corral.conf"), env=ENV)
    refused = STILL_REFUSED.get(main.parent.name, [])
    errors = [line.split(": ", 3)[-1] for line in check.stderr.splitlines() if line.startswith("corral: error:")]
    assert errors == refused, check.stderr
    assert check.returncode == (2 if refused else 0), check.stderr
    if refused:
        assert any("no http:// or https:// URL" in line for line in needs)


def test_check_on_an_nxs_backup_file_names_migrate() -> None:
    for main in EXAMPLES:
        done = corral("check", "-c", str(main), env=ENV)
        first = done.stderr.splitlines()[0]
        assert done.returncode == 2 and "looks like an nxs-backup" in first and "corral migrate --from" in first


# ------------------------------------------------------------------------------------------- a real run

MYSQL_PASSWORD_IN_NXS = "the server's, written literally"  # replaced by the session server's password


def _nxs_config(root: Path, mariadb: MariaDB, postgres: Postgres) -> Path:
    """An /etc/nxs-backup as nxs-backup 2.x's templates make it, its values filled in."""
    etc = root / "etc-nxs"
    (etc / "conf.d").mkdir(parents=True)
    (root / "log").mkdir()
    (etc / "nxs-backup.conf").write_text(f"""\
main:
  server_name: legacy-web
  admin_mail: ''
  client_mail:
  - ''
  mail_from: ''
  level_message: error
  block_io_read: ''
  block_io_write: ''
  blkio_weight: ''
  general_path_to_all_tmp_dir: {root}/nxs-tmp
  cpu_shares: ''
  log_file: {root}/log/nxs-backup.log
jobs: !include [conf.d/*.conf]
""")
    store = "      store:\n        days: 3\n        weeks: 1\n        month: 1\n"
    (etc / "conf.d" / "files.conf").write_text(f"""\
  - job: Legacy-files
    type: desc_files
    tmp_dir: {root}/nxs-tmp/files
    sources:
    - target:
      - {root}/www/*/
      excludes:
      - cache
      gzip: yes
    storages:
    - storage: local
      enable: yes
      backup_dir: {root}/backups/files
{store}""")
    (etc / "conf.d" / "mysql.conf").write_text(f"""\
  - job: Legacy-mysql
    type: mysql
    tmp_dir: {root}/nxs-tmp/mysql
    sources:
    - connect:
        db_host: '{mariadb.host}'
        db_port: '{mariadb.port}'
        socket: ''
        db_user: '{mariadb.user}'
        db_password: '{mariadb.password}'
        auth_file: ''
      target:
      - legacy_shop
      excludes:
      - information_schema
      - performance_schema
      - mysql
      - sys
      gzip: yes
      is_slave: no
      extra_keys: '--opt --add-drop-database --routines --comments --create-options --quote-names --hex-blob'
    storages:
    - storage: local
      enable: yes
      backup_dir: {root}/backups/mysql
{store}""")
    (etc / "conf.d" / "postgresql.conf").write_text(f"""\
  - job: Legacy-pg
    type: postgresql
    tmp_dir: {root}/nxs-tmp/pg
    sources:
    - connect:
        db_host: '{postgres.host}'
        db_port: '{postgres.port}'
        db_user: '{postgres.user}'
        db_password: '{postgres.password}'
      target:
      - legacy_pg
      excludes:
      - template1
      - template0
      gzip: yes
      extra_keys: ''
    storages:
    - storage: local
      enable: yes
      backup_dir: {root}/backups/pg
{store}""")
    return etc / "nxs-backup.conf"


def _tar_gz(path: Path, name: str) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = 3
        tar.addfile(info, io.BytesIO(b"old"))
    path.write_bytes(buffer.getvalue())


def _old_archives(root: Path) -> dict[str, Path]:
    """Archives as nxs-backup 2.x left them: ``<backup_dir>/<target>/<daily|weekly|monthly>/<target>_<date>``, a
    daily link to the monthly copy made the same day, and a file of someone's own."""
    made: dict[str, Path] = {}
    files = root / "backups" / "files" / "shop"
    for period, stamp in (("daily", "2026-03-01_03-00"), ("daily", "2026-02-27_03-00"),
                          ("weekly", "2026-02-22_03-00"), ("monthly", "2026-02-01_03-00")):
        path = files / period / f"shop_{stamp}.tar.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        _tar_gz(path, "index.html")
        made[f"files {stamp}"] = path
    link = files / "daily" / "shop_2026-02-01_03-00.tar.gz"
    link.symlink_to("../monthly/shop_2026-02-01_03-00.tar.gz")
    made["files link"] = link
    (files / "daily" / "README").write_text("kept by hand\n")
    made["files readme"] = files / "daily" / "README"
    mysql = root / "backups" / "mysql" / "legacy_shop" / "daily"
    mysql.mkdir(parents=True)
    for stamp in ("2026-02-27_03-00", "2026-03-01_03-00"):
        made[f"mysql {stamp}"] = mysql / f"legacy_shop_{stamp}.sql.gz"
        made[f"mysql {stamp}"].write_bytes(gzip.compress(
            b"CREATE TABLE IF NOT EXISTS from_nxs (id INT PRIMARY KEY);\nREPLACE INTO from_nxs VALUES (1);\n"))
    pg = root / "backups" / "pg" / "legacy_pg" / "daily"
    pg.mkdir(parents=True)
    made["pg 2026-02-27_03-00"] = pg / "legacy_pg_2026-02-27_03-00.pgdump.sql.gz"
    made["pg 2026-02-27_03-00"].write_bytes(gzip.compress(b"-- 2.x plain dump\n"))
    return made


def _mysql(server: MariaDB, *statements: str, database: str | None = None) -> list[Any]:
    conn = pymysql.connect(**server.connect_kwargs(), autocommit=True, database=database)
    try:
        with conn.cursor() as cursor:
            rows: list[Any] = []
            for statement in statements:
                cursor.execute(statement)
                rows = list(cursor.fetchall())
            return rows
    finally:
        conn.close()


def _pg(server: Postgres, *statements: str) -> None:
    import psycopg

    with psycopg.connect(**server.connect_kwargs(), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def test_migrated_jobs_run_and_rotate_the_old_archives(tmp_path: Path, mariadb_server: MariaDB,
                                                        postgres_server: Postgres) -> None:
    _mysql(mariadb_server, "DROP DATABASE IF EXISTS legacy_shop", "CREATE DATABASE legacy_shop",
           "CREATE TABLE legacy_shop.orders (id INT PRIMARY KEY)", "INSERT INTO legacy_shop.orders VALUES (7)")
    _pg(postgres_server, "DROP DATABASE IF EXISTS legacy_pg", "CREATE DATABASE legacy_pg")
    for site in ("shop", "blog"):
        (tmp_path / "www" / site / "cache").mkdir(parents=True)
        (tmp_path / "www" / site / "index.html").write_text(f"{site}\n")
    nxs = _nxs_config(tmp_path, mariadb_server, postgres_server)
    old = _old_archives(tmp_path)
    out = tmp_path / "etc-corral"

    done = corral("migrate", "--from", str(nxs), "--to", str(out))
    assert done.returncode == 0, done.stderr
    for secret in (mariadb_server.password, postgres_server.password):
        assert secret not in done.stdout + done.stderr
        assert secret not in "".join(p.read_text() for p in out.rglob("*.conf"))
    assert f"{nxs}:13: main: `log_file` is corral's `log_file_name`" in done.stdout
    for job, folder in (("Legacy-files", "files"), ("Legacy-mysql", "mysql"), ("Legacy-pg", "pg")):
        backup_dir = tmp_path / "backups" / folder
        move = f"`mkdir -p {backup_dir}/{job} && mv {backup_dir}/<target> {backup_dir}/{job}/`"
        assert re.search(rf"job `{job}`: nxs-backup's archives are in .*{re.escape(move)}", done.stdout), job
        (backup_dir / job).mkdir()
        for target in [p for p in backup_dir.iterdir() if p.name != job]:  # what the report tells the user
            shutil.move(str(target), str(backup_dir / job / target.name))

    main = out / "corral.conf"
    check = corral("check", "-c", str(main))
    assert check.returncode == 0, check.stderr
    start = corral("start", "-c", str(main), env=NOW)
    assert start.returncode == 0, start.stderr

    def moved(key: str) -> Path:
        path = old[key]
        job = {"files": "Legacy-files", "mysql": "Legacy-mysql", "pg": "Legacy-pg"}[key.split()[0]]
        backup_dir = path.parents[2]
        return backup_dir / job / path.relative_to(backup_dir)

    new_files = tmp_path / "backups" / "files" / "Legacy-files"
    for site in ("shop", "blog"):
        assert (new_files / site / f"{site}_2026-03-02_03-00-00.tar.gz").is_file()
    assert (tmp_path / "backups" / "mysql" / "Legacy-mysql" / "legacy_shop"
            / "legacy_shop_2026-03-02_03-00-00.sql.gz").is_file()
    assert list((tmp_path / "backups" / "pg" / "Legacy-pg" / "legacy_pg").glob("legacy_pg_2026-03-02_03-00-00.*"))
    # store {days: 3, weeks: 1, months: 1} on 2026-03-02: the 1st of March is kept (day, week, month); the rest
    # of February goes, whichever nxs-backup folder it sits in
    for key in ("files 2026-02-27_03-00", "files 2026-02-22_03-00", "files 2026-02-01_03-00",
                "mysql 2026-02-27_03-00"):
        assert not moved(key).exists(), key
    for key in ("files 2026-03-01_03-00", "mysql 2026-03-01_03-00", "files readme",
                "pg 2026-02-27_03-00"):  # 2.x's `.pgdump.sql.gz` is no extension of corral's postgresql
        assert moved(key).is_file(), key
    assert moved("files link").is_symlink()  # links are never followed nor deleted (now dangling)

    listed = corral("list", "Legacy-mysql", "-c", str(main))
    assert listed.returncode == 0, listed.stderr
    assert "legacy_shop_2026-03-01_03-00.sql.gz" in listed.stdout
    assert "legacy_shop_2026-03-02_03-00-00.sql.gz" in listed.stdout

    restore = corral("restore", "Legacy-mysql", "--target", "legacy_shop", "--archive",
                     "legacy_shop_2026-03-01_03-00.sql.gz", "--force", "-c", str(main))
    assert restore.returncode == 0, restore.stderr
    assert _mysql(mariadb_server, "SELECT id FROM from_nxs", database="legacy_shop") == [(1,)]
