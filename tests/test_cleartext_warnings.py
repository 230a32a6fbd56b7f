"""A password sent in clear, or a secret too short to mask safely: one warning line from `corral check` and the log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from corral.testing.cli import corral, local_storage, write_main
from corral_testservers import FTPServer

PASSWORD = "a-long-enough-password"
SMTP = {"smtp_server": "smtp.example.com", "smtp_user": "backup", "smtp_password": PASSWORD,
        "admin_mail": ["ops@example.com"]}  # fmt: skip
FTP = {"storage": "ftp", "backup_dir": "/b", "host": "ftp.example.com", "user": "bob", "password": PASSWORD}
WEBDAV = {"storage": "webdav", "backup_dir": "/b", "url": "http://dav.example.com/dav/", "user": "bob",
          "password": PASSWORD}  # fmt: skip
S3 = {"storage": "s3", "backup_dir": "/b", "bucket": "backups", "endpoint_url": "http://s3.example.com:8333",
      "access_key_id": "AKIAEXAMPLE", "secret_access_key": PASSWORD}  # fmt: skip


def job(*storages: dict[str, Any]) -> dict[str, Any]:
    return {"job": "site", "type": "external", "dump_cmd": "/bin/true", "storages": list(storages)}


def warnings(tmp_path: Path, storage: dict[str, Any], **main: Any) -> list[str]:
    """`corral check`'s warning lines for a config with one storage (no server is contacted)."""
    config = write_main(tmp_path, [job(storage)], **main)
    done = corral("check", "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    return [line for line in done.stderr.splitlines() if line.startswith("corral: warning: ")]


@pytest.mark.parametrize(
    ("main", "storage", "warning", "safe_main", "safe_storage"),
    [
        (SMTP, {}, "main: the SMTP login of `backup` goes to smtp.example.com:25 in clear; set `smtp_tls: true` "
         "(STARTTLS) or `smtp_ssl: true` (SMTPS)", {**SMTP, "smtp_tls": True}, {}),
        ({}, FTP, "job `site`: storage `ftp`: the password of `bob` goes to ftp.example.com:21 in clear (plain "
         "FTP); set `tls: true` for explicit FTPS", {}, {**FTP, "tls": True}),
        ({}, WEBDAV, "job `site`: storage `webdav`: the password of `bob` goes to http://dav.example.com/dav/ in "
         "clear (HTTP basic auth without TLS); use https", {}, {**WEBDAV, "url": "https://dav.example.com/dav/"}),
        ({}, S3, "job `site`: storage `s3`: `endpoint_url` http://s3.example.com:8333 is plain http: the archives "
         "and the requests signed with access key `AKIAEXAMPLE` travel unencrypted; use https", {},
         {**S3, "endpoint_url": "https://s3.example.com"}),
    ],
    ids=["smtp", "ftp", "webdav", "s3"],
)  # fmt: skip
def test_check_warns_about_each_password_sent_in_clear(
    tmp_path: Path, main: dict[str, Any], storage: dict[str, Any], warning: str, safe_main: dict[str, Any],
    safe_storage: dict[str, Any],
) -> None:  # fmt: skip
    local = local_storage(tmp_path / "backups")
    [line] = warnings(tmp_path, storage or local, **main)
    config = tmp_path / "corral.conf"
    # file and line of the `main:` section or of the storage entry
    assert line.startswith(f"corral: warning: {config}:"), line
    assert line.split(": ", 3)[3] == warning, line
    assert warnings(tmp_path, safe_storage or local, **safe_main) == []


def test_check_warns_about_a_secret_too_short_to_mask_safely(tmp_path: Path) -> None:
    lines = warnings(tmp_path, {**FTP, "password": "abc", "tls": True})
    assert [line.split(": ", 3)[3] for line in lines] == [
        "job `site`: storage `ftp`: `password` is only 3 character(s) long: corral masks it in every log line "
        "and report, ordinary text included; use a longer secret"
    ]
    assert "abc" not in "".join(lines)


def test_a_run_logs_the_warning_and_still_stores(tmp_path: Path, ftp_server: FTPServer) -> None:
    storage = {"storage": "ftp", "backup_dir": "/cleartext", "host": ftp_server.host, "port": ftp_server.port,
               "user": ftp_server.user, "password": ftp_server.password}  # fmt: skip
    dump = tmp_path / "dump.sh"
    dump.write_text('#!/bin/sh\necho data > "$CORRAL_TMP_DIR/site.txt"\n'
                    'printf \'{"full_path": "%s", "basename": "site", "extension": "txt"}\\n\' '
                    '"$CORRAL_TMP_DIR/site.txt"\n')  # fmt: skip
    dump.chmod(0o755)
    config = write_main(tmp_path, [{**job(storage), "dump_cmd": str(dump)}])
    done = corral("start", "-c", str(config), env={"CORRAL_NOW": "2026-01-31T03:00:00"})
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "log" / "corral.log").read_text()
    [line] = [line for line in log.splitlines() if "in clear" in line]
    assert line.endswith(f"[WARNING] {config}:{_line_of_storage(config)}: job `site`: storage `ftp`: the password "
                         f"of `{ftp_server.user}` goes to {ftp_server.host}:{ftp_server.port} in clear (plain FTP); "
                         "set `tls: true` for explicit FTPS"), line  # fmt: skip
    assert "job finished successfully" in log
    assert (ftp_server.root / "cleartext" / "site" / "site" / "site_2026-01-31_03-00-00.txt").read_text() == "data\n"


def _line_of_storage(config: Path) -> int:
    return next(n for n, text in enumerate(config.read_text().splitlines(), 1) if "- storage: ftp" in text)
