"""`corral drill` restores each target's newest backup into a scratch folder it throws away, compares it with what
was recorded at dump time and with the job's checks, and tells the admins and Prometheus when it did not come back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from corral.run import human_size
from corral.testing.cli import CORRAL, corral, local_storage, write_main
from corral_testservers import SMTPServer
from tests.conftest import report_json, script

NOW = {"CORRAL_NOW": "2026-03-02T03:00:00"}


def _site(tmp_path: Path) -> Path:
    site = tmp_path / "www" / "shop"
    (site / "upload").mkdir(parents=True)
    (site / "index.php").write_text("<?php echo 'shop';\n")
    (site / "upload" / "photo.jpg").write_bytes(os.urandom(200_000))
    (site / "current").symlink_to("index.php")
    os.link(site / "index.php", site / "hard.php")
    return site


def _jobs(tmp_path: Path, site: Path, **desc: Any) -> list[dict[str, Any]]:
    return [
        {"job": "web", "type": "desc_files", "sources": [{"target": [str(site)], "gzip": False}],
         "storages": [local_storage(tmp_path / "b")], **desc},
        {"job": "chain", "type": "inc_files", "sources": [{"target": [str(site)]}],
         "storages": [local_storage(tmp_path / "b")]},
    ]


def _backed_up(tmp_path: Path, **main: Any) -> Path:
    site = _site(tmp_path)
    config = write_main(tmp_path, _jobs(tmp_path, site, drill={"checks": [{"command": "test -s shop/index.php"}]}),
                        **main)
    done = corral("start", "-c", str(config), env=NOW)
    assert done.returncode == 0, done.stderr
    return config


def _work_left(tmp_path: Path) -> list[Path]:
    """What is left in the jobs' work folders (each job's tmp_dir under the general one)."""
    return [p for job in (tmp_path / "tmp").iterdir() if job.is_dir() for p in job.iterdir()]


def test_a_good_backup_passes_with_its_counts_and_checks(tmp_path: Path) -> None:
    config = _backed_up(tmp_path, prometheus_textfile=str(tmp_path / "corral.prom"))
    done = corral("drill", "-c", str(config), env=NOW)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "DRILL PASSED: 2 of 2 target(s) restored as recorded"
    web = next(line for line in lines if line.startswith("web/shop: "))
    size = len("<?php echo 'shop';\n") + 200_000  # index.php and its hard link: two files, their bytes once
    assert f"(3 files, {human_size(size)})" in web, web
    assert web.endswith(": passed; 1 check(s) passed"), web
    assert any(line.startswith("chain/shop: restored in ") and "a chain of 1 archive(s)" in line for line in lines)
    metrics = (tmp_path / "corral.prom").read_text()
    assert 'corral_drill_success{corral_job="web",storage="local",target="shop"} 1' in metrics, metrics
    assert "corral_drill_last_success_timestamp_seconds{" in metrics
    assert not _work_left(tmp_path), "the scratch folders are thrown away"


def test_the_restored_tree_is_counted_against_the_manifest(tmp_path: Path) -> None:
    """What came back is compared with what tar archived: here the record says one file more than came back."""
    config = _backed_up(tmp_path)
    [record] = (tmp_path / "b" / "web" / ".manifests").glob("*.json")
    data = json.loads(record.read_text())
    recorded = data["archives"][0]["facts"]
    assert (recorded["files"], recorded["symlinks"], recorded["dirs"]) == (3, 1, 2), recorded
    data["archives"][0]["facts"]["files"] += 1
    record.write_text(json.dumps(data))
    done = corral("drill", "web", "-c", str(config), env=NOW)
    assert done.returncode == 1
    assert "web/shop: FAILED after " in done.stdout
    assert "count of `files`: 3 came back, 4 recorded" in done.stdout


def test_a_flipped_byte_fails_the_drill_and_tells_the_admins(tmp_path: Path, smtp_server: SMTPServer) -> None:
    """An uncompressed tar with one byte changed inside a file extracts without a word: the drill still catches
    it, because what it read is proven against the manifest; the admins get a DRILL FAILED message."""
    mail = {"admin_mail": ["admin@example.com"], "mail_from": "corral@example.com",
            "smtp_server": smtp_server.host, "smtp_port": smtp_server.port}
    config = _backed_up(tmp_path, **mail)
    [archive] = (tmp_path / "b" / "web" / "shop").glob("shop_*.tar")
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(data)
    before = len(smtp_server.messages())
    done = corral("drill", "web", "-c", str(config), env=NOW)
    assert done.returncode == 1
    [line] = [line for line in done.stdout.splitlines() if line.startswith("web/shop: ")]
    assert f"`{archive.name}` read back is not what was stored" in line, line
    assert done.stdout.splitlines()[-1] == "DRILL FAILED: 0 of 1 target(s) restored as recorded"
    [message] = smtp_server.wait_for_messages(before + 1)[before:]
    assert message["Subject"] == "[corral] test-server: DRILL FAILED"
    assert "web/shop (local" in message.get_content() and "read back is not what was stored" in message.get_content()


def test_a_failing_check_fails_the_target(tmp_path: Path) -> None:
    site = _site(tmp_path)
    config = write_main(tmp_path, _jobs(tmp_path, site, drill={
        "checks": [{"command": "grep -q wordpress shop/index.php"}, {"command": "false", "target": "other"}]}))
    assert corral("start", "-c", str(config), env=NOW).returncode == 0
    done = corral("drill", "web", "-c", str(config), env=NOW)
    assert done.returncode == 1
    assert "check `grep -q wordpress shop/index.php` failed (exit 1)" in done.stdout, done.stdout


def test_an_encrypted_backup_needs_the_identity(tmp_path: Path) -> None:
    key = tmp_path / "key.txt"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    public = subprocess.run(["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True).stdout.strip()
    site = _site(tmp_path)
    config = write_main(tmp_path, _jobs(tmp_path, site), encrypt={"recipients": [public]})
    assert corral("start", "-c", str(config), env=NOW).returncode == 0
    refused = corral("drill", "-c", str(config), env=NOW)
    assert refused.returncode == 1
    assert "web/shop: FAILED after 0.0 s: its archives are encrypted (`encrypt:`): give the age secret key with " \
           "--identity FILE" in refused.stdout
    done = corral("drill", "-c", str(config), "--identity", str(key), env=NOW)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "DRILL PASSED: 2 of 2 target(s) restored as recorded"


def test_sigterm_mid_drill_leaves_no_scratch_and_no_child(tmp_path: Path) -> None:
    site = _site(tmp_path)
    marker = tmp_path / "check-started"
    config = write_main(tmp_path, _jobs(tmp_path, site, drill={
        "checks": [{"command": f"touch {marker} && exec sleep 300"}]}))
    assert corral("start", "-c", str(config), env=NOW).returncode == 0
    run = subprocess.Popen([*CORRAL, "drill", "web", "-c", str(config)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env={**os.environ, **NOW})
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the check never started"
        assert [p for p in (tmp_path / "tmp" / "web").iterdir()], "the scratch folder exists while it runs"
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 143, stderr
    assert "interrupted by signal 15" in stderr
    assert not list((tmp_path / "tmp" / "web").iterdir()), "the scratch folder went with the drill"
    sleepers = subprocess.run(["pgrep", "-f", "exec sleep 300"], capture_output=True, text=True).stdout.split()
    assert not sleepers, "the check's program was stopped"


@pytest.mark.parametrize("job", ["nojob"])
def test_an_unknown_job_is_one_line(tmp_path: Path, job: str) -> None:
    config = _backed_up(tmp_path)
    done = corral("drill", job, "-c", str(config))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_type_corral_cannot_restore_is_not_drilled_and_fails_nothing(tmp_path: Path) -> None:
    """external's archives are fetched for their own tool: the drill says it did not drill them, in a line of
    their own, and the exit code is the other targets' verdict."""
    site = _site(tmp_path)
    dump = 'echo "SELECT 1;" > "$CORRAL_TMP_DIR/db.sql"\n' + report_json("$CORRAL_TMP_DIR/db.sql", "db")
    jobs = [_jobs(tmp_path, site)[0], {"job": "db", "type": "external", "dump_cmd": script(tmp_path / "dump.sh", dump),
                                       "storages": [local_storage(tmp_path / "b")]}]
    config = write_main(tmp_path, jobs)
    assert corral("start", "-c", str(config), env=NOW).returncode == 0
    done = corral("drill", "-c", str(config), env=NOW)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "db/db: not drilled: type `external` has no drill (corral fetches its archives for their own tool)" \
        in done.stdout.splitlines()
    assert done.stdout.splitlines()[-1] == "DRILL PASSED: 1 of 1 target(s) restored as recorded; 1 not drilled"


def test_an_archive_that_restores_nothing_fails_even_without_its_manifest(tmp_path: Path) -> None:
    """An archive swapped for an empty tar on the storage, its manifest gone with it: nothing to compare, no
    check, and the drill must still not pass (a real desc_files archive holds at least the target's folder)."""
    site = _site(tmp_path)
    config = write_main(tmp_path, _jobs(tmp_path, site))
    assert corral("start", "-c", str(config), "web", env=NOW).returncode == 0
    [archive] = (tmp_path / "b" / "web" / "shop").glob("shop_*.tar")
    for record in (tmp_path / "b" / "web" / ".manifests").iterdir():
        record.unlink()
    subprocess.run(["tar", "-cf", str(archive), "-T", "/dev/null"], check=True)
    done = corral("drill", "web", "-c", str(config), env=NOW)
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("web/shop: ")]
    assert "FAILED" in line and "restored nothing" in line, line


def test_a_restore_and_a_drill_fetch_the_archive_under_the_jobs_tmp_dir_never_tmp(tmp_path: Path) -> None:
    """The local copy of a files archive went to /tmp (Python's default), a tmpfs on many servers, and outside
    the drill's scratch folder: traced, every file named like the archive is created under the job's tmp_dir."""
    site = _site(tmp_path)
    config = write_main(tmp_path, _jobs(tmp_path, site))
    assert corral("start", "-c", str(config), "web", env=NOW).returncode == 0
    for args in (["restore", "web", "--target", "shop", "--to", str(tmp_path / "out")], ["drill", "web"]):
        trace = tmp_path / "trace"
        done = subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat", "-o", str(trace), *CORRAL, *args, "-c",
                               str(config)], capture_output=True, text=True, env={**os.environ, **NOW}, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        created = [line for line in trace.read_text().splitlines() if "O_CREAT" in line and "shop_2026" in line]
        assert created, args
        assert all(f'"{tmp_path / "tmp"}/' in line for line in created), created


def test_a_drill_server_with_a_password_is_refused_without_echoing_it(tmp_path: Path) -> None:
    """`drill: server: USER:PASSWORD@HOST` went to the clients as the user name (`--user=`, psql's conninfo: in
    `ps`) and came back in corral's lines; it is a configuration error now, which never repeats the password."""
    job = {"job": "db", "type": "postgresql", "drill": {"server": "admin:Drill-Pw-7731@127.0.0.1:5432"},
           "sources": [{"connect": {"db_host": "127.0.0.1", "db_user": "x", "db_password": "y"}, "target": ["a"]}],
           "storages": [local_storage(tmp_path / "b")]}
    config = write_main(tmp_path, [job])
    for args in (["check"], ["drill", "db"]):
        done = corral(*args, "-c", str(config), env=NOW)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "`drill.server`: holds a password" in done.stderr, done.stderr
        assert "Drill-Pw-7731" not in done.stdout + done.stderr


def test_an_unknown_target_is_a_usage_error(tmp_path: Path) -> None:
    config = _backed_up(tmp_path)
    done = corral("drill", "--target", "nope", "-c", str(config), env=NOW)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == "corral: error: no backup of a target `nope` in the jobs chosen (chain, web)"
