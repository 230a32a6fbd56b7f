"""`encrypt:` makes every archive an age file for public keys only: restorable with `age -d` and tar, never
plaintext on a storage, and a secret key never accepted in the configuration."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from corral.testing.cli import corral, local_storage, write_main
from tests.conftest import report_json, script

MARK = "only-in-the-plaintext-4242"


@pytest.fixture
def key(tmp_path: Path) -> tuple[Path, str]:
    """An age identity (the secret key file, kept off the server in real life) and its public key."""
    path = tmp_path / "key.txt"
    subprocess.run(["age-keygen", "-o", str(path)], check=True, capture_output=True)
    public = subprocess.run(["age-keygen", "-y", str(path)], check=True, capture_output=True, text=True).stdout.strip()
    return path, public


def _jobs(tmp_path: Path, **extra: object) -> list[dict[str, object]]:
    site = tmp_path / "www" / "shop"
    site.mkdir(parents=True)
    (site / "index.php").write_text(f"<?php // {MARK}\n" * 200)
    dump = f'echo "{MARK}" > "$CORRAL_TMP_DIR/db.sql"\n' + report_json("$CORRAL_TMP_DIR/db.sql", "db")
    return [{"job": "web", "type": "desc_files", "sources": [{"target": [str(site)], "gzip": True}],
             "storages": [local_storage(tmp_path / "b", store={"days": 1})], **extra},
            {"job": "db", "type": "external", "dump_cmd": script(tmp_path / "dump.sh", dump),
             "storages": [local_storage(tmp_path / "b")], **extra}]


def test_archives_are_age_files_restorable_with_the_standard_tools(tmp_path: Path, key: tuple[Path, str]) -> None:
    identity, public = key
    main = write_main(tmp_path, _jobs(tmp_path), encrypt={"recipients": [public]})
    for day in ("01", "02", "03"):
        done = corral("start", "-c", str(main), env={"CORRAL_NOW": f"2026-03-{day}T03:00:00"})
        assert done.returncode == 0, done.stdout + done.stderr
    stored = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file()
                    and not {".manifests", ".runs"} & set(p.parts))
    # rotation knows the encrypted archives (days: 1, before the dump: the newest and the new), external keeps all
    assert [str(p) for p in stored] == [f"db/db/db_2026-03-0{day}_03-00-00.txt.age" for day in (1, 2, 3)] + [
        f"web/shop/shop_2026-03-0{day}_03-00-00.tar.gz.age" for day in (2, 3)]
    for path in stored:
        data = (tmp_path / "b" / path).read_bytes()
        assert data.startswith(b"age-encryption.org/v1\n") and MARK.encode() not in data
    archive = tmp_path / "b" / stored[-1]
    listed = subprocess.run(f"age -d -i {identity} {archive} | tar -tz", shell=True, capture_output=True, text=True)
    assert listed.returncode == 0 and listed.stdout.split() == ["shop/", "shop/index.php"], listed.stderr
    dump = subprocess.run(["age", "-d", "-i", str(identity), str(tmp_path / "b" / stored[0])], capture_output=True,
                          text=True, check=True)
    assert dump.stdout == f"{MARK}\n"
    # the manifest says what is under the encryption and for whom
    records = [entry for path in (tmp_path / "b" / "web" / ".manifests").glob("*.json")
               for entry in json.loads(path.read_text())["archives"]]
    assert {(entry["codec"], tuple(entry["recipients"])) for entry in records} == {("gzip", (public,))}
    # nothing of the plaintext stayed in the work area
    assert not [p for p in (tmp_path / "tmp").rglob("*") if p.is_file() and p.name != "corral.lock"]


def test_a_job_can_have_its_own_recipients_file(tmp_path: Path, key: tuple[Path, str]) -> None:
    identity, public = key
    recipients = tmp_path / "recipients.txt"
    recipients.write_text(f"# the backup team\n{public}\n")
    main = write_main(tmp_path, _jobs(tmp_path, encrypt={"recipients_file": str(recipients)}))
    done = corral("start", "-c", str(main), env={"CORRAL_NOW": "2026-03-01T03:00:00"})
    assert done.returncode == 0, done.stderr
    [archive] = (tmp_path / "b" / "db" / "db").glob("*.age")
    assert subprocess.run(["age", "-d", "-i", str(identity), str(archive)], capture_output=True,
                          text=True).stdout == f"{MARK}\n"


@pytest.mark.parametrize(
    ("recipients", "problem"),
    [(["AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"], "keep the secret key off"),
     (["age1short"], "is not an age public key"), ([], "give `recipients` (age public keys) or `recipients_file`")],
    ids=["secret-key", "typo", "nobody"],
)
def test_bad_recipients_are_one_line(tmp_path: Path, recipients: list[str], problem: str) -> None:
    main = write_main(tmp_path, _jobs(tmp_path), encrypt={"recipients": recipients})
    done = corral("check", "-c", str(main))
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith(f"corral: error: {main}:") and "main: `encrypt" in line and problem in line, line
    assert "AGE-SECRET-KEY-1QQQ" not in done.stderr


def test_incremental_jobs_accept_encrypt_without_a_warning(tmp_path: Path, key: tuple[Path, str]) -> None:
    """inc_files encrypts its chains too (its snapshots: a local copy continues them, docs/encryption.md)."""
    _, public = key
    (tmp_path / "site").mkdir()
    inc = {"job": "inc", "type": "inc_files", "sources": [{"target": [str(tmp_path / "site")]}],
           "storages": [local_storage(tmp_path / "b")]}
    for main in (write_main(tmp_path, [inc], encrypt={"recipients": [public]}),
                 write_main(tmp_path, [{**inc, "encrypt": {"recipients": [public]}}])):
        done = corral("check", "-c", str(main))
        assert done.returncode == 0 and "inc_files" not in done.stderr, done.stderr


def test_restore_decrypts_with_the_identity_and_refuses_without(tmp_path: Path, key: tuple[Path, str]) -> None:
    identity, public = key
    main = write_main(tmp_path, _jobs(tmp_path), encrypt={"recipients": [public]})
    assert corral("start", "-c", str(main), env={"CORRAL_NOW": "2026-03-01T03:00:00"}).returncode == 0
    day = ("--date", "2026-03-01")
    done = corral("restore", "web", "-t", "shop", *day, "--to", str(tmp_path / "r1"), "-c", str(main))
    assert done.returncode == 2
    assert done.stderr == ("corral: error: `shop_2026-03-01_03-00-00.tar.gz.age` is encrypted (`encrypt:`): give "
                           "the age secret key with --identity FILE\n")
    done = corral("restore", "web", "-t", "shop", *day, "--to", str(tmp_path / "r2"), "-i", str(identity),
                  "-c", str(main))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r2" / "shop" / "index.php").read_text() == (tmp_path / "www" / "shop" / "index.php").read_text()
    done = corral("restore", "db", "-t", "db", *day, "--to", str(tmp_path / "r3"), "-i", str(identity),
                  "-c", str(main))
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "r3").iterdir()] == ["db_2026-03-01_03-00-00.txt"]
    assert (tmp_path / "r3" / "db_2026-03-01_03-00-00.txt").read_text() == f"{MARK}\n"
    other = tmp_path / "other.txt"
    subprocess.run(["age-keygen", "-o", str(other)], check=True, capture_output=True)
    done = corral("restore", "db", "-t", "db", *day, "--to", str(tmp_path / "r4"), "-i", str(other), "-c", str(main))
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith(f"corral: error: cannot decrypt `{tmp_path}/b/db/db/db_2026-03-01_03-00-00.txt.age` "
                           f"with `{other}`: "), line
    assert not list((tmp_path / "r4").glob("*"))


def test_verify_deep_decodes_encrypted_archives_with_the_identity(tmp_path: Path, key: tuple[Path, str]) -> None:
    identity, public = key
    main = write_main(tmp_path, _jobs(tmp_path)[:1], encrypt={"recipients": [public]})
    assert corral("start", "-c", str(main), env={"CORRAL_NOW": "2026-03-01T03:00:00"}).returncode == 0
    assert corral("verify", "-c", str(main)).returncode == 0  # the checksum is of the encrypted bytes
    blind = corral("verify", "--deep", "-c", str(main))
    assert blind.returncode == 1 and "it is encrypted: give --identity to decode it" in blind.stdout, blind.stdout
    done = corral("verify", "--deep", "-i", str(identity), "-c", str(main))
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_recipients_file_another_user_could_change_is_refused(tmp_path: Path, key: tuple[Path, str]) -> None:
    """Whoever can add a key to it reads every backup made after: it is held to the configuration's own rule."""
    _, public = key
    recipients = tmp_path / "recipients.txt"
    recipients.write_text(f"{public}\n")
    recipients.chmod(0o666)
    main = write_main(tmp_path, _jobs(tmp_path), encrypt={"recipients_file": str(recipients)})
    done = corral("check", "-c", str(main))
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert f"`{recipients}` is writable by its group and every user" in line
    assert line.endswith(f"fix: `chmod go-w {recipients}`")
    recipients.chmod(0o644)
    assert corral("check", "-c", str(main)).returncode == 0
