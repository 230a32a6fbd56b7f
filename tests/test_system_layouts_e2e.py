"""Standard system layouts are accepted by the work-area, lock and log checks (false positives are bugs too)."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import pytest

from corral.testing.cli import corral, local_storage, refusals, write_main

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="uses system folders and chown (root only)")
ADM = 4  # Debian's `adm` group; Ubuntu's /var/log is root:syslog 0775


def site_job(tmp_path: Path, backup_dir: Path) -> dict[str, object]:
    (tmp_path / "site").mkdir(exist_ok=True)
    (tmp_path / "site" / "index.html").write_text("hello\n")
    return {"job": "site", "type": "desc_files", "sources": [{"target": [str(tmp_path / "site")]}],
            "storages": [local_storage(backup_dir)]}


def test_debian_layout_is_accepted(tmp_path: Path) -> None:
    """/var/tmp (1777), /var/backups (root 0755), /var/log (root 0755), /run through the /var/run symlink."""
    tag = f"corral-test-{secrets.token_hex(4)}"
    made = [Path("/var/tmp") / tag, Path("/var/backups") / tag, Path("/var/log") / tag, Path("/run") / f"{tag}.lock"]
    run_dir = Path("/var/run") if Path("/var/run").is_symlink() else Path("/run")
    try:
        main = write_main(tmp_path, [site_job(tmp_path, made[1])], general_path_to_all_tmp_dir=str(made[0]),
                          log_file_name=str(made[2] / "corral.log"), lock_file=str(run_dir / f"{tag}.lock"))
        done = corral("start", "-c", str(main))
        assert done.returncode == 0, done.stderr
        assert list(made[1].rglob("*.tar")) and (made[2] / "corral.log").read_text()
    finally:
        for path in made:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)


def test_a_log_and_lock_in_a_group_writable_system_folder_are_accepted(tmp_path: Path) -> None:
    """Ubuntu's /var/log is root:syslog 0775. The log and the lock are opened without following a symlink and only
    when they are our own single-link regular files, so who else can write their folder cannot redirect them."""
    var_log = tmp_path / "var-log"
    var_log.mkdir()
    os.chown(var_log, 0, ADM)
    var_log.chmod(0o775)
    main = write_main(tmp_path, [site_job(tmp_path, tmp_path / "b")], log_file_name=str(var_log / "corral.log"),
                      lock_file=str(var_log / "corral.lock"))
    done = corral("start", "-c", str(main))
    assert done.returncode == 0, done.stderr
    assert "job finished successfully" in (var_log / "corral.log").read_text()


def test_a_log_folder_inside_a_group_writable_folder_is_refused_with_a_fix_that_works(tmp_path: Path) -> None:
    """`/var/log/corral/corral.log` on Ubuntu: whoever can write /var/log could swap the `corral` folder for a
    symlink, so it is refused; the message must not only say `chmod go-w /var/log` (that breaks rsyslog)."""
    var_log = tmp_path / "var-log"
    var_log.mkdir()
    os.chown(var_log, 0, ADM)
    var_log.chmod(0o775)
    main = write_main(tmp_path, [site_job(tmp_path, tmp_path / "b")], log_file_name=str(var_log / "corral" / "x.log"))
    done = corral("start", "-c", str(main))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"`{var_log}/x.log`" in lines[0], lines[0]  # the alternative that works: the file directly in it


def test_check_finds_what_start_would_refuse_about_the_work_area_log_and_lock(tmp_path: Path) -> None:
    """`corral check` after an edit must not say ok when `corral start` (from cron, at night) will refuse."""
    a_file = tmp_path / "a-file"
    a_file.write_text("x\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    job = site_job(tmp_path, tmp_path / "b") | {"tmp_dir": str(shared / "work")}
    main = write_main(tmp_path, [job], general_path_to_all_tmp_dir=str(a_file),
                      log_file_name=str(shared / "logs" / "corral.log"))
    done = corral("check", "-c", str(main))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert all(line.startswith("corral: error: ") for line in lines) and "Traceback" not in done.stderr
    assert any("general_path_to_all_tmp_dir" in line and f"`{a_file}` is not a folder" in line for line in lines)
    assert any("log_file_name" in line and f"`{shared}/corral.log`" in line for line in lines), lines
    assert any("job `site`" in line and "tmp_dir" in line and f"`{shared}`" in line for line in lines), lines
    start = corral("start", "-c", str(main))
    assert start.returncode == 2  # what check announced


def test_check_accepts_the_layouts_start_accepts(tmp_path: Path) -> None:
    var_log = tmp_path / "var-log"
    var_log.mkdir()
    os.chown(var_log, 0, ADM)
    var_log.chmod(0o775)
    main = write_main(tmp_path, [site_job(tmp_path, tmp_path / "b")], log_file_name=str(var_log / "corral.log"),
                      lock_file="/var/run/corral-check-test.lock")
    done = corral("check", "-c", str(main))
    assert done.returncode == 0, done.stderr
    assert not Path("/run/corral-check-test.lock").exists()  # check creates nothing


@pytest.mark.parametrize("key", ["general_path_to_all_tmp_dir", "log_file_name", "lock_file", "tmp_dir"])
def test_a_relative_work_log_or_lock_path_is_refused(tmp_path: Path, key: str) -> None:
    """Relative to the folder corral happens to run in: the admin's test from /etc/corral and cron's run from
    /root would use two lock files (two runs at once) and two work areas. One line naming the key, exit 2."""
    job = site_job(tmp_path, tmp_path / "b")
    if key == "tmp_dir":
        job[key] = "relative/work"
        main = write_main(tmp_path, [job])
    else:
        main = write_main(tmp_path, [job], **{key: "relative/x"})
    for command in ("check", "start"):
        done = corral(command, "-c", str(main), cwd=tmp_path)
        # a job's own tmp_dir fails that job only when the run starts (exit 1); main's keys stop the run (exit 2)
        assert done.returncode == (1 if key == "tmp_dir" and command == "start" else 2), done.stderr
        lines = refusals(done)
        assert len(lines) == 1 and f"`{key}`" in lines[0] and "absolute" in lines[0], done.stderr
    assert not (tmp_path / "relative").exists()
