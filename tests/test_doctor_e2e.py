"""`corral doctor` through the real CLI against the session's real servers: a healthy config (files, MariaDB,
PostgreSQL; local, SFTP and S3 storages) passes with one `ok` line per check; a database on a wrong port, a wrong
storage password, a program missing from PATH and a world-readable config holding a password each give their
FAIL line and exit 1, the other checks still run, and no secret shows."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from corral.testing.cli import corral, local_storage, write_main
from corral_testservers import MariaDB, Postgres, S3Server, SSHServer
from corral_testservers.ports import free_port
from tests.test_remote_storages_e2e import sftp


def _jobs(tmp_path: Path, sites: Path, mariadb: MariaDB, postgres: Postgres, sshd: SSHServer, s3: S3Server,
          mysql_port: int | None = None, pg_port: int | None = None, sftp_password: str | None = None,
          ) -> list[dict[str, Any]]:  # fmt: skip
    ssh = sftp(sshd, path_to_key=None, password=sftp_password) if sftp_password else sftp(sshd)
    bucket = {"storage": "s3", "backup_dir": f"/doctor-{tmp_path.name[-12:]}", "bucket": s3.bucket,
              "endpoint_url": s3.endpoint_url, "region": s3.region, "access_key_id": s3.access_key,
              "secret_access_key": s3.secret_key}  # fmt: skip
    local = local_storage(tmp_path / "backups")
    return [
        {"job": "www", "type": "desc_files", "sources": [{"target": [f"{sites}/*/"], "compression": "zstd"}],
         "storages": [local, ssh, bucket]},
        {"job": "shop", "type": "mysql", "storages": [local],
         "sources": [{"connect": {"db_host": mariadb.host, "db_port": mysql_port or mariadb.port,
                                  "db_user": mariadb.user, "db_password": mariadb.password},
                      "target": ["mysql"], "compression": "zstd"}]},
        {"job": "pg", "type": "postgresql", "storages": [local],
         "sources": [{"connect": {"db_host": postgres.host, "db_port": pg_port or postgres.port,
                                  "db_user": postgres.user, "db_password": postgres.password},
                      "target": ["postgres"], "compression": "zstd"}]},
    ]  # fmt: skip


def _config(tmp_path: Path, jobs: list[dict[str, Any]], mode: int = 0o600) -> Path:
    path = write_main(tmp_path, jobs)
    path.chmod(mode)
    return path


def _without(tmp_path: Path, *programs: str) -> str:
    """A PATH holding every program of the system's but ``programs`` (links in one folder)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for directory in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        for entry in sorted(Path(directory).iterdir()) if Path(directory).is_dir() else []:
            if entry.name not in programs and not (folder / entry.name).exists():
                (folder / entry.name).symlink_to(entry)
    return str(folder)


def _lines(text: str, start: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(start)]


def test_a_healthy_config_passes_with_one_line_per_check(
    tmp_path: Path, sites: Path, mariadb_server: MariaDB, postgres_server: Postgres, sshd_server: SSHServer,
    s3_server: S3Server,
) -> None:  # fmt: skip
    config = _config(tmp_path, _jobs(tmp_path, sites, mariadb_server, postgres_server, sshd_server, s3_server))
    done = corral("doctor", "-c", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert not _lines(out, "FAIL") and "Traceback" not in done.stderr, out
    config_line = _lines(out, f"ok   config {config}: mode 0600, owner ")
    assert config_line and "job `shop` `sources[0].connect.db_password`" in config_line[0], out
    assert _lines(out, "ok   desc_files job www: GNU tar "), out
    assert _lines(out, "ok   desc_files job www: compression zstd: zstd "), out
    assert _lines(out, f"ok   desc_files job www: target `{sites}/*/`: 2 match(es): alpha, beta"), out
    assert re.search(r"^ok   mysql job shop: mariadb-dump (\S+) \(server \1 at 127\.0\.0\.1:\d+\)$", out, re.M), out
    assert _lines(out, "ok   mysql job shop: 1 database(s) to dump: mysql"), out
    assert re.search(r"^ok   postgresql job pg: pg_dump 15\.\d+ \(server 15\.\d+ at `\w+@127\.0\.0\.1:\d+`\)$", out,
                     re.M), out
    assert _lines(out, "ok   postgresql job pg: pg_dumpall 15."), out
    assert _lines(out, "ok   postgresql job pg: 1 database(s) to dump: postgres"), out
    for storage in ("local", "sftp", "s3"):
        line = _lines(out, f"ok   storage {storage} of job www: ")
        assert line and "probe streamed, read back and deleted; connect " in line[0], out
    assert _lines(out, "ok   storage local of job www: disk of "), out
    assert _lines(out, f"ok   work area {tmp_path / 'tmp'}: does not exist yet"), out
    assert out.splitlines()[-1].endswith(", 0 failure(s)"), out
    assert not list((tmp_path / "backups").rglob(".corral-doctor-*")), "the probe was left on the storage"
    assert not list((sshd_server.home / "backups").rglob(".corral-doctor-*")), "the probe was left on sftp"

    as_json = corral("doctor", "shop", "--json", "-c", str(config))
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["ok"] is True and report["config"] == str(config)
    subjects = {check["subject"] for check in report["checks"]}
    assert {"mysql job shop", "storage local of job shop", f"config {config}"} <= subjects, subjects
    assert all(check["status"] in ("ok", "warn") for check in report["checks"]), report


def test_each_broken_need_is_one_fail_line_and_no_secret_shows(
    tmp_path: Path, sites: Path, mariadb_server: MariaDB, postgres_server: Postgres, sshd_server: SSHServer,
    s3_server: S3Server,
) -> None:  # fmt: skip
    wrong = "wrong-Passw0rd-that-must-never-show"
    mysql_port, pg_port = free_port(), free_port()
    jobs = _jobs(tmp_path, sites, mariadb_server, postgres_server, sshd_server, s3_server, mysql_port=mysql_port,
                 pg_port=pg_port, sftp_password=wrong)
    config = _config(tmp_path, jobs, mode=0o644)
    done = corral("doctor", "-c", str(config), env={"PATH": _without(tmp_path, "zstd")})
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    for secret in (wrong, mariadb_server.password, postgres_server.password, s3_server.secret_key):
        assert secret not in out + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    failures = _lines(out, "FAIL")
    expected = {
        "config": f"FAIL config {config}: mode 0644, owner ",
        "mysql": f"FAIL mysql job shop: server 127.0.0.1:{mysql_port}: cannot connect: ",
        "postgresql": f"FAIL postgresql job pg: `{postgres_server.user}@127.0.0.1:{pg_port}`: cannot connect: ",
        "sftp": "FAIL storage sftp of job www: connect: ",
        "zstd": "FAIL desc_files job www: compression zstd: `zstd` is not installed (apt install zstd)",
    }
    for what, start in expected.items():
        assert len([line for line in failures if line.startswith(start)]) == 1, (what, out)
    config_line = _lines(out, f"FAIL config {config}")[0]
    assert "readable by its group and every user" in config_line and f"`chmod 600 {config}`" in config_line
    assert "authentication failed" in _lines(out, "FAIL storage sftp")[0], out
    assert len(failures) == len(expected) + 2, out  # and mysql's and pg's codec: zstd is missing for them too
    assert _lines(out, "ok   storage local of job www: ") and _lines(out, "ok   storage s3 of job www: "), out
    assert out.splitlines()[-1].endswith(f", {len(failures)} failure(s)"), out
    assert os.stat(config).st_mode & 0o777 == 0o644, "doctor changes nothing"
