"""`corral migrate`: nxs-backup 2.x and 3.x keys mapped one by one, `ENV:` and passwords, the report lines, the
files' modes, refusals; `corral check`'s first line on an nxs-backup file; archives named the nxs-backup way."""

from __future__ import annotations

import re
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from corral.archive import RemoteFile, own_backup, parse_backup
from corral.cli import app
from corral.config.models import Store
from corral.migrate import detect, load, plan
from corral.migrate.mapping import EnvRef, Secret
from corral.retention import expired

DATA = Path(__file__).parents[2] / "tests" / "data" / "nxs-backup"
LINE = re.compile(r"^\S+:\d+: \S")

MAIN_2 = """\
main:
  server_name: web-01
  admin_mail: ops@example.com
  client_mail:
  - ''
  mail_from: backup@example.com
  level_message: error
  smtp_server: smtp.example.com
  smtp_password: 'smtp-Secret-2x'
  general_path_to_all_tmp_dir: /var/nxs-backup
  cpu_shares: '128'
  log_file: /var/log/nxs-backup/nxs-backup.log
  unheard_of: 1
jobs: !include [conf.d/*.conf]
"""
JOBS_2 = """\
- job: all
  type: mongodb
  tmp_dir: /var/nxs-backup/mongo
  safety_backup: yes
  sources:
  - connect:
      db_host: mongo.example.com
      db_port: '27017'
      db_user: backup
      db_password: 'mongo-Secret-2x'
    target_dbs: [all]
    exclude_dbs: [admin]
    target_collections: [orders]
    exclude_collections: [sessions]
    gzip: yes
    extra_keys: '--oplog'
  storages:
  - storage: s3
    enable: yes
    backup_dir: /dump
    bucket_name: backups
    access_key_id: AKIAEXAMPLE
    secret_access_key: 's3-Secret-2x'
    s3fs_opts: '-o url=https://minio.example.com -o use_path_request_style'
    store: {days: 6, weeks: 4, month: 6}
  - storage: nfs
    enable: yes
    backup_dir: /mnt/nfs
    host: nfs.example.com:/srv/backups
    extra_keys: '-o vers=3'
  - storage: scp
    enable: yes
    backup_dir: /backups
    host: ssh.example.com
    port: 2222
    user: backup
    password: 'ssh-Secret-2x'
  - storage: webdav
    backup_dir: /dav
    host: https://dav.example.com
    port: 8443
    user: u
    password: 'dav-Secret-2x'
  - storage: nfs
    backup_dir: /var/nxs-backup/dump
    host: nfs2.example.com
    remote_mount_point: /exports/backup
- job: hot
  type: postgresql_basebackup
  sources:
  - connect: {db_host: 127.0.0.1, db_port: 5432, db_user: rep, db_password: ''}
    gzip: no
    extra_keys: '-x --format=tar -D - --max-rate=50M'
  storages:
  - storage: local
    backup_dir: /var/nxs-backup/hot
    store: {days: '', weeks: '', month: ''}
- job: files
  type: lotus_notes
  storages: []
"""

MAIN_3 = """\
server_name: web-02
project_name: Shop
loglevel: info
logfile: /var/log/nxs-backup.log
notifications:
  mail:
    enabled: true
    mail_from: backup@example.com
    smtp_server: smtp.example.com
    smtp_port: 465
    smtp_user: backup
    smtp_password: ENV:SMTP_PASSWORD
    recipients: [ops@example.com]
    message_level: warning
  webhooks:
  - webhook_url: https://hooks.example.com/T0/B0/token-Secret-3x
    message_level: error
    payload_message_key: text
storage_connects:
- name: aws
  s3_params:
    bucket_name: backups
    access_key_id: AKIAEXAMPLE
    secret_access_key: ENV:S3_SECRET
    endpoint: minio.example.com:9000
    region: eu-1
    secure: false
    batch_deletion: true
- name: box
  sftp_params: {host: ssh.example.com, port: 22, user: backup, password: 'sftp-Secret-3x',
                key_file: /root/.ssh/id_ed25519, connection_timeout: 10}
- name: nas
  nfs_params: {host: nas.example.com, target: backups, uid: 1000, gid: 1000, port: 111}
- name: dav
  webdav_params: {url: 'https://dav.example.com/', username: u, password: 'dav-Secret-3x', oauth_token: tok}
- name: win
  smb_params: {host: smb.example.com, port: 445, user: u, password: 'smb-Secret-3x', share: b, domain: CORP}
- name: ftp1
  ftp_params: {host: ftp.example.com, port: 21, user: u, password: 'ftp-Secret-3x', connect_count: 5}
jobs:
- job_name: shop-db
  type: mysql
  tmp_dir: /var/nxs-backup/tmp
  deferred_copying: true
  sources:
  - name: prod
    connect: {db_host: db, db_port: "3306", db_user: root, db_password: 'mysql-Secret-3x'}
    target_dbs: [shop]
    excludes: [mysql, shop.sessions]
    gzip: true
    db_extra_keys: --single-transaction
  storages_options:
  - storage_name: local
    backup_path: /var/nxs-backup/dump
    retention: {days: 24, weeks: 0, months: 0, count_instead_of_period: true}
  - storage_name: aws
    backup_path: /dump
    enable_rotate: false
  - storage_name: box
    backup_path: /dump
    retention: {days: 7}
  - storage_name: nas
    backup_path: /dump
  - storage_name: dav
    backup_path: /dump
  - storage_name: win
    backup_path: /dump
  - storage_name: ftp1
    backup_path: /dump
  - storage_name: nowhere
    backup_path: /dump
include_jobs_configs: ["conf.d/*.conf"]
"""
JOB_3 = """\
job_name: uploads
type: incr_files
sources:
- name: up
  targets: [/var/www/*/upload/]
  save_abs_path: yes
  gzip: true
storages_options:
- storage_name: local
  backup_path: /var/nxs-backup/inc
  retention: {months: 12}
"""
SECRETS = ["dav-Secret-2x", "smtp-Secret-2x", "mongo-Secret-2x", "s3-Secret-2x", "ssh-Secret-2x", "token-Secret-3x",
           "sftp-Secret-3x", "dav-Secret-3x", "smb-Secret-3x", "ftp-Secret-3x", "mysql-Secret-3x"]


def _write(folder: Path, main: str, jobs: str, job_file: str = "jobs.conf") -> Path:
    (folder / "conf.d").mkdir(parents=True)
    (folder / "conf.d" / job_file).write_text(jobs)
    (folder / "nxs-backup.conf").write_text(main)
    return folder / "nxs-backup.conf"


@pytest.fixture
def two(tmp_path: Path) -> Path:
    return _write(tmp_path / "nxs2", MAIN_2, JOBS_2)


@pytest.fixture
def three(tmp_path: Path) -> Path:
    return _write(tmp_path / "nxs3", MAIN_3, JOB_3)


def _job(result: Any, name: str) -> dict[str, Any]:
    return next(job.data for job in result.jobs if job.name == name)


def _lines(result: Any, *words: str) -> list[str]:
    return [line for line in result.lines if all(word in line for word in words)]


def test_versions_are_told_apart(two: Path, three: Path) -> None:
    assert detect.version(load.read(two)) == "2"
    assert detect.version(load.read(two.parent / "conf.d" / "jobs.conf")) == "2"
    assert detect.version(load.read(three)) == "3"
    assert detect.version(load.read(three.parent / "conf.d" / "jobs.conf")) == "3"
    assert detect.version(load.read(DATA / "3" / "uralm1-on-premise" / "nxs-backup.yml")) == "3"
    assert detect.nxs_only(load.read(two), two.parent) == "2"  # `log_file`
    assert detect.nxs_only(load.read(three), three.parent) == "3"


def test_corral_files_are_not_taken_for_nxs_backup(tmp_path: Path) -> None:
    main = _write(tmp_path, "main:\n  log_file_name: /tmp/x.log\njobs: !include [conf.d/*.conf]\n",
                  "- job: a\n  type: mysql\n  sources:\n  - target: [a]\n  storages: []\n")
    assert detect.nxs_only(load.read(main), tmp_path) is None
    assert detect.hint(main) is None


def test_2x_main_keys(two: Path, tmp_path: Path) -> None:
    result = plan(two, tmp_path / "out")
    main = result.main
    assert main["log_file_name"] == "/var/log/nxs-backup/nxs-backup.log"
    assert "client_mail" not in main  # [''] is unset
    assert main["cpu_shares"] == "128" and main["smtp_server"] == "smtp.example.com"
    assert isinstance(main["smtp_password"], Secret) and result.secrets[main["smtp_password"]] == "smtp-Secret-2x"
    assert _lines(result, "nxs-backup.conf:12:", "log_file", "log_file_name")
    assert _lines(result, "nxs-backup.conf:13:", "unknown key `unheard_of`")


def test_2x_job_source_and_storage_keys(two: Path, tmp_path: Path) -> None:
    result = plan(two, tmp_path / "out")
    assert [job.name for job in result.jobs] == ["all-job", "hot", "files-job"]
    mongo = _job(result, "all-job")
    source = mongo["sources"][0]
    assert source["target"] == ["all"] and source["excludes"] == ["admin"]
    assert source["exclude_collections"] == ["sessions"] and "extra_keys" not in source
    assert source["connect"]["db_port"] == "27017" and isinstance(source["connect"]["db_password"], Secret)
    s3, nfs, scp, dav, nfs2 = mongo["storages"]
    assert (dav["url"], "host" in dav, "port" in dav) == ("https://dav.example.com:8443", False, False)
    assert (nfs2["host"], nfs2["export"], nfs2["backup_dir"]) == ("nfs2.example.com", "/exports/backup", "/")
    assert s3 == {"storage": "s3", "enable": True, "backup_dir": "/dump", "bucket": "backups",
                  "access_key_id": "AKIAEXAMPLE", "secret_access_key": s3["secret_access_key"],
                  "endpoint_url": "https://minio.example.com", "store": {"days": 6, "weeks": 4, "months": 6}}
    assert (nfs["host"], nfs["export"], nfs["backup_dir"]) == ("nfs.example.com", "/srv/backups", "/")
    assert scp["known_hosts"] == str((tmp_path / "out" / "known_hosts").absolute())
    file = "conf.d/jobs.conf"
    assert _lines(result, f"{file}:1:", "job `all` is a name `corral start` reserves", "`all-job`")
    assert _lines(result, f"{file}:4:", "`safety_backup` dropped")
    assert _lines(result, f"{file}:13:", "`target_collections` dropped")
    assert _lines(result, f"{file}:16:", "`extra_keys` dropped")
    assert _lines(result, f"{file}:24:", "`s3fs_opts` dropped", "endpoint_url")
    assert _lines(result, f"{file}:30:", "storage `nfs`: `extra_keys` has no corral counterpart: dropped")
    assert _lines(result, f"{file}:29:", "2.x mounted `nfs.example.com:/srv/backups`", "`export: /srv/backups`")
    needs = [line for line in result.needs_user if "ssh-keyscan -p 2222 ssh.example.com" in line]
    assert len(needs) == 1 and needs[0].startswith(f"{two.parent / file}:")
    hot = _job(result, "hot")
    assert hot["type"] == "postgresql_hot" and hot["sources"][0]["extra_keys"] == "--max-rate=50M"
    assert "db_password" not in hot["sources"][0]["connect"] and "store" not in hot["storages"][0]
    assert _lines(result, "`type: postgresql_basebackup` is corral's `postgresql_hot`")
    assert _job(result, "files-job")["type"] == "lotus_notes"
    assert [line for line in result.needs_user if "no job type `lotus_notes`" in line]
    assert _lines(result, "job `all-job`: nxs-backup's archives are in `<backup_dir>/<target>/daily|weekly|monthly/`",
                  "mkdir -p /dump/all-job && mv /dump/<target> /dump/all-job/")


def test_a_url_password_never_reaches_the_report(tmp_path: Path) -> None:
    main = _write(tmp_path / "n", "server_name: a\nstorage_connects:\n- name: dav\n  webdav_params:\n"
                  "    url: dav.example.com/u:Url-Secret@x\n    username: u\n", "job_name: j\ntype: redis\n"
                  "storages_options:\n- storage_name: dav\n  backup_path: /b\n")
    main.write_text(main.read_text().replace("dav.example.com/u:Url-Secret@x", "ftp://u:Url-Secret@x"))
    result = plan(main, tmp_path / "out")
    assert not [line for line in result.lines if "Url-Secret" in line]
    assert _lines(result, "`url: ftp://u:***@x` is no http:// or https:// URL")


def test_2x_retention_is_reported_once(two: Path, tmp_path: Path) -> None:
    result = plan(two, tmp_path / "out")
    assert len(_lines(result, "retention (and every other `store`")) == 1


def test_3x_main_and_notifications(three: Path, tmp_path: Path) -> None:
    result = plan(three, tmp_path / "out")
    main = result.main
    assert main["server_name"] == "web-02" and main["log_file_name"] == "/var/log/nxs-backup.log"
    assert main["admin_mail"] == ["ops@example.com"] and main["level_message"] == "error"
    assert main["smtp_password"] == EnvRef("SMTP_PASSWORD") and isinstance(main["smtp_password"], EnvRef)
    assert main["webhook_level"] == "errors"
    (url,) = main["webhook_urls"]
    assert isinstance(url, Secret) and result.secrets[url] == "https://hooks.example.com/T0/B0/token-Secret-3x"
    for key in ("project_name", "loglevel", "payload_message_key", "message_level: warning"):
        assert _lines(result, key), key


def test_3x_storages_and_retention(three: Path, tmp_path: Path) -> None:
    result = plan(three, tmp_path / "out")
    job = _job(result, "shop-db")
    local, aws, box, nas, dav, win, ftp = job["storages"]
    assert local == {"storage": "local", "backup_dir": "/var/nxs-backup/dump",
                     "store": {"days": 24, "weeks": 0, "months": 0}}
    assert _lines(result, "`count_instead_of_period` dropped", "days: N/R")
    assert aws["storage"] == "s3" and "store" not in aws and aws["endpoint_url"] == "http://minio.example.com:9000"
    assert aws["secret_access_key"] == EnvRef("S3_SECRET") and aws["bucket"] == "backups"
    assert _lines(result, "`enable_rotate: false`")
    assert box["storage"] == "sftp" and box["path_to_key"] == "/root/.ssh/id_ed25519" and box["timeout"] == 10
    assert box["store"] == {"days": 7, "weeks": 5, "months": 12}
    assert _lines(result, "retention weeks, months not given")
    assert (nas["storage"], nas["export"], nas["version"], nas["uid"]) == ("nfs", "/backups", "3", 1000)
    assert "port" not in nas and _lines(result, "`port: 111` is rpcbind's")
    assert (dav["url"], dav["user"]) == ("https://dav.example.com/", "u") and _lines(result, "`oauth_token` dropped")
    assert (win["share"], win["domain"]) == ("b", "CORP")
    assert ftp["storage"] == "ftp" and _lines(result, "`connect_count` dropped")
    assert _lines(result, "storage `nowhere` is not in `storage_connects`")
    assert [line for line in result.needs_user if "ssh-keyscan -p 22 ssh.example.com" in line]


def test_3x_sources(three: Path, tmp_path: Path) -> None:
    result = plan(three, tmp_path / "out")
    source = _job(result, "shop-db")["sources"][0]
    assert source["name"] == "prod" and source["target"] == ["shop"] and source["excludes"] == ["mysql"]
    assert source["extra_keys"] == "--single-transaction --ignore-table=shop.sessions"
    assert source["connect"]["db_port"] == 3306
    assert _lines(result, "`deferred_copying` dropped")
    inc = _job(result, "uploads")
    assert inc["type"] == "inc_files" and inc["sources"][0]["target"] == ["/var/www/*/upload/"]
    assert "store" not in inc["storages"][0] and _lines(result, "`retention` dropped", "yearly chains")
    assert _lines(result, "`save_abs_path` dropped")


def test_written_files_modes_secrets_and_report(two: Path, tmp_path: Path) -> None:
    out = tmp_path / "etc-corral"
    done = CliRunner().invoke(app, ["migrate", "--from", str(two), "--to", str(out)])
    assert done.exit_code == 0, done.output
    for secret in SECRETS:
        assert secret not in done.output
    lines = done.output.splitlines()
    assert lines[-1] == f"next: corral check -c {out / 'corral.conf'}"
    assert all(LINE.match(line) for line in lines[:-2]), lines
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for path in [out / "corral.conf", *out.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    credentials = out / "credentials"
    assert (credentials / "main.smtp_password").read_text() == "smtp-Secret-2x\n"
    texts = "".join(path.read_text() for path in [out / "corral.conf", *(out / "conf.d").glob("*.conf")])
    for secret in SECRETS[:5]:
        assert secret not in texts
    assert "smtp_password: !file 'credentials/main.smtp_password'" in (out / "corral.conf").read_text()
    assert "jobs: !include [conf.d/*.conf]" in (out / "corral.conf").read_text()
    job = yaml.safe_load(re.sub(r"!file ", "", (out / "conf.d" / "all-job.conf").read_text()))[0]
    assert job["sources"][0]["connect"]["db_password"] == "../credentials/all-job.db_password"


def test_env_values_become_env_tags(three: Path, tmp_path: Path) -> None:
    out = tmp_path / "c"
    done = CliRunner().invoke(app, ["migrate", "--from", str(three), "--to", str(out)])
    assert done.exit_code == 0, done.output
    assert "smtp_password: !env 'SMTP_PASSWORD'" in (out / "corral.conf").read_text()
    assert "secret_access_key: !env 'S3_SECRET'" in (out / "conf.d" / "shop-db.conf").read_text()
    for secret in SECRETS[5:]:
        assert secret not in done.output


def test_dry_run_writes_nothing_and_prints_no_secret(two: Path, tmp_path: Path) -> None:
    out = tmp_path / "dry"
    done = CliRunner().invoke(app, ["migrate", "--from", str(two), "--to", str(out), "--dry-run"])
    assert done.exit_code == 0 and not out.exists()
    assert f"# ---- {out / 'corral.conf'}" in done.output and "would write" in done.output
    for secret in SECRETS[:5]:
        assert secret not in done.output


def test_refusals_are_one_line(two: Path, tmp_path: Path) -> None:
    out = tmp_path / "c"
    out.mkdir()
    (out / "corral.conf").write_text("main: {}\n")
    runner = CliRunner()
    done = runner.invoke(app, ["migrate", "--from", str(two), "--to", str(out)])
    assert done.exit_code == 2 and "exists: not overwritten" in done.output and len(done.output.splitlines()) == 1
    assert runner.invoke(app, ["migrate", "--from", str(two), "--to", str(out), "--force"]).exit_code == 0
    for args, words in (([str(tmp_path / "none.conf")], "cannot read"), ([str(two), "--format", "4"], "give 2 or 3")):
        done = runner.invoke(app, ["migrate", "--from", *args[:1], "--to", str(tmp_path / "d"), *args[1:]])
        assert done.exit_code == 2 and words in done.output and len(done.output.splitlines()) == 1
    done = runner.invoke(app, ["migrate", "--from", str(two), "--to", str(two.parent)])
    assert done.exit_code == 2 and "holds the nxs-backup files" in done.output and len(done.output.splitlines()) == 1
    assert not (two.parent / "corral.conf").exists()
    broken = tmp_path / "broken.conf"
    broken.write_text("main:\n  a: [\n")
    done = runner.invoke(app, ["migrate", "--from", str(broken), "--to", str(tmp_path / "d")])
    assert done.exit_code == 2 and "invalid YAML" in done.output and len(done.output.splitlines()) == 1
    other = tmp_path / "other.conf"
    other.write_text("- 1\n- 2\n")
    done = runner.invoke(app, ["migrate", "--from", str(other), "--to", str(tmp_path / "d")])
    assert done.exit_code == 2 and "--format 2|3" in done.output


@pytest.mark.parametrize("version", ["2", "3"])
def test_check_points_at_migrate_first(two: Path, three: Path, version: str) -> None:
    main = two if version == "2" else three
    done = CliRunner().invoke(app, ["check", "-c", str(main)])
    assert done.exit_code == 2
    first = done.output.splitlines()[0]
    assert f"looks like an nxs-backup {version}.x configuration" in first
    assert f"`corral migrate --from {main} --to /etc/corral`" in first


def test_archives_named_the_nxs_backup_way_are_recognised() -> None:
    root = "/b/job"
    old = RemoteFile(f"{root}/shop/daily/shop_2026-02-20_03-00.tar.gz", 1)
    backup = parse_backup(old)
    assert backup is not None and backup.made == datetime(2026, 2, 20, 3, 0) and backup.target == "shop"
    assert own_backup(old, root, ("tar.gz",)) == backup
    assert own_backup(RemoteFile(f"{root}/shop/daily/shop_2026-02-20_03-00.tar.gz", 1, link=True), root,
                      ("tar.gz",)) is None
    assert own_backup(RemoteFile(f"{root}/shop/monthly/shop_2026-02-01_03-00.pgdump.sql.gz", 1), root,
                      ("sql.gz", "dump")) is None  # 2.x's postgresql extension is not corral's
    new = RemoteFile(f"{root}/shop/shop_2026-03-02_03-00-00.tar.gz", 1)
    assert own_backup(new, root, ("tar.gz",)) is not None
    week_old = parse_backup(RemoteFile(f"{root}/shop/weekly/shop_2026-02-22_03-00.tar.gz", 1))
    doomed = expired([backup, week_old, parse_backup(new)], Store(days=3), datetime(2026, 3, 2, 3))
    assert [b.path for b in doomed] == [backup.path, week_old.path]


def test_every_example_detects_and_plans(tmp_path: Path) -> None:
    mains = sorted(path for path in DATA.glob("*/*/nxs-backup.*"))
    assert len(mains) == 8
    for main in mains:
        result = plan(main, tmp_path / main.parent.name)
        assert result.version == main.parts[-3] and result.jobs, main
        assert all(LINE.match(line) for line in result.lines), main


def test_every_key_migrate_knows_is_in_the_docs() -> None:
    """docs/migrating-from-nxs-backup.md names every nxs-backup key the migration maps or drops."""
    from corral.migrate import read2, read3
    from corral.migrate.mapping import DROPPED

    text = (Path(__file__).parents[2] / "docs" / "migrating-from-nxs-backup.md").read_text()
    keys = {*read2._MAIN, *read2._CONNECT, *read2._SOURCE, *read2._JOB, *read3._CONNECT, *read3._SOURCE,
            *read3._JOB, *read3._TOP, *DROPPED}
    for _, table in read3._CONNECTS.values():
        keys.update(table)
    for table in read2._STORAGES.values():
        keys.update(table)
    keys.update(f"{params}" for params in read3._CONNECTS)
    missing = sorted(key for key in keys if not re.search(rf"[`.]{re.escape(key)}[`:.\[]", text))
    assert not missing, missing
