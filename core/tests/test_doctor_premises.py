"""`corral doctor`'s look at the config files (every file read, judged as ssh judges a key) and the work area."""

from __future__ import annotations

from pathlib import Path

import yaml

from corral.config import load_config, load_yaml
from corral.config.risks import secret_values
from corral.doctoring import version_in
from corral.premises import config_files, holds, work_area

PASSWORD = "s3cret-of-the-shop-db"


def _setup(tmp_path: Path) -> Path:
    (tmp_path / "conf.d").mkdir()
    secret = tmp_path / "smtp.secret"
    secret.write_text("smtp-password-here\n")
    job = {"job": "shop", "type": "mysql", "sources": [{"connect": {"db_user": "b", "db_password": PASSWORD}}],
           "storages": [{"storage": "local", "backup_dir": str(tmp_path / "b")}]}
    (tmp_path / "conf.d" / "shop.conf").write_text(yaml.safe_dump([job]))
    main = tmp_path / "corral.conf"
    main.write_text(f"main:\n  general_path_to_all_tmp_dir: {tmp_path / 'tmp'}\n"
                    f"  smtp_password: !file {secret}\njobs: !include conf.d/*.conf\n")
    return main


def _checks(main: Path) -> dict[str, str]:
    config = load_config(main)
    read: dict[str, str] = {}
    load_yaml(main, read)
    found = config_files(read, ((key, value) for _where, key, value in secret_values(config)))
    return {check.subject.removeprefix("config "): f"{check.status} {check.text}" for check in found}


def test_every_file_read_is_judged_and_a_readable_secret_fails(tmp_path: Path) -> None:
    main = _setup(tmp_path)
    job, secret = tmp_path / "conf.d" / "shop.conf", tmp_path / "smtp.secret"
    for path in (main, job, secret):
        path.chmod(0o600)
    checks = _checks(main)
    assert list(checks) == [str(main), str(secret), str(job)], checks
    assert all(text.startswith("ok ") for text in checks.values()), checks
    assert "holds a `!file` secret" in checks[str(secret)] and "db_password" in checks[str(job)], checks
    assert "smtp_password" not in checks[str(main)], "the main file names the secret's file, it does not hold it"

    job.chmod(0o640)
    secret.chmod(0o604)
    main.chmod(0o644)
    checks = _checks(main)
    assert checks[str(job)].startswith("FAIL mode 0640") and "readable by its group," in checks[str(job)], checks
    assert checks[str(secret)].startswith("FAIL mode 0604") and "readable by every user" in checks[str(secret)]
    assert f"`chmod 600 {job}`" in checks[str(job)]
    assert checks[str(main)].startswith("ok mode 0644"), "a readable file without a secret in it is fine"
    assert all(PASSWORD not in text for text in checks.values())


def test_a_short_secret_is_found_as_a_whole_value_only() -> None:
    assert holds("password: abc\n", "abc") and holds("password: 'abc'  # x\n", "abc")
    assert not holds("name: abcdef\n", "abc") and not holds("cabc: 1\n", "abc")
    assert holds("connect: {db_user: x, db_password: abc}\n", "abc") and holds("{p: abc, q: 1}\n", "abc")
    assert holds("url: https://u:longer-secret@host\n", "longer-secret")


def test_the_work_area_must_be_private(tmp_path: Path) -> None:
    area = tmp_path / "work"
    area.mkdir(mode=0o755)
    area.chmod(0o755)

    class Main:
        general_path_to_all_tmp_dir = area
        log_file_name = None
        lock_file = None

    check = work_area(Main(), [area / "job"], {})[-1]
    assert check.status == "warn" and f"`chmod 700 {area}`" in check.text, check
    area.chmod(0o700)
    check = work_area(Main(), [], {area: (10**18, "big")})[-1]
    assert check.status == "FAIL" and "job big" in check.text and "the run would fill it" in check.text, check


def test_versions_are_read_from_what_tools_print() -> None:
    assert version_in("mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu") == "10.11.19"
    assert version_in("*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***") == "1.5.4"
    assert version_in("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)") == "15.18"
    assert version_in("mariabackup based on MariaDB server 10.11.19-MariaDB debian-linux-gnu") == "10.11.19"
    assert version_in("no version here") is None
