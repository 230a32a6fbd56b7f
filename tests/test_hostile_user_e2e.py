"""A hostile local user against the log, the lock and the work area, through the real ``corral`` command."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from corral.testing.cli import corral, local_storage, write_main
from tests.conftest import report_json, script

NOBODY = 65534


def simple_job(tmp_path: Path) -> dict[str, object]:
    ext = script(tmp_path / "ext.sh", 'echo x > "$CORRAL_TMP_DIR/x.txt"\n' + report_json("$CORRAL_TMP_DIR/x.txt", "x"))
    return {"job": "ext", "type": "external", "dump_cmd": ext, "storages": [local_storage(tmp_path / "backups")]}


def test_a_fifo_planted_as_the_log_is_refused_instead_of_hanging_the_run(tmp_path: Path) -> None:
    """`log_file_name` in a shared sticky folder: a FIFO there made every run block forever in open()
    (where fs.protected_fifos is 0), holding nothing but piling up one stuck corral per cron run."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    log = shared / "corral.log"
    os.mkfifo(log)
    os.chown(log, NOBODY, NOBODY)
    main = write_main(tmp_path, [simple_job(tmp_path)], log_file_name=str(log))
    try:
        done = corral("start", "-c", str(main), timeout=30)
    except subprocess.TimeoutExpired:
        raise AssertionError("corral blocked opening the FIFO planted as its log") from None
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"log file `{log}` is refused: it is not a regular file" in lines[0], done.stderr
    assert not (tmp_path / "backups").exists()


def test_a_log_and_lock_left_readable_by_an_older_corral_become_private(tmp_path: Path) -> None:
    """corral 0.1 created its log and lock 0644: every later line (and the lock's run id) stayed world-readable."""
    main = write_main(tmp_path, [simple_job(tmp_path)])
    log = tmp_path / "log" / "corral.log"
    lock = tmp_path / "tmp" / "corral.lock"
    for path in (log, lock):
        path.parent.mkdir(mode=0o755)
        path.write_text("")
        path.chmod(0o644)
    done = corral("start", "-c", str(main))
    assert done.returncode == 0, done.stderr
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in (log, lock)} == {
        "corral.log": 0o600, "corral.lock": 0o600}
    assert "job finished successfully" in log.read_text()


def test_a_log_group_the_admin_chose_keeps_its_read_bit(tmp_path: Path) -> None:
    """logrotate's `create 0640 root adm`: the adm group reads the log on purpose; others lose what they had."""
    main = write_main(tmp_path, [simple_job(tmp_path)])
    log = tmp_path / "log" / "corral.log"
    log.parent.mkdir(mode=0o700)
    log.write_text("")
    os.chown(log, 0, 4)  # adm
    log.chmod(0o644)
    done = corral("start", "-c", str(main))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(log.stat().st_mode) == 0o640


def test_dead_run_cleanup_never_touches_a_tmp_dir_another_user_controls(tmp_path: Path) -> None:
    """A job's `tmp_dir` in a user's folder (refused for dumps) was still scanned by the dead-run cleanup: the
    user could rename any root-owned folder of their tree (or link `tmp_dir` elsewhere) to a dead run's name
    and have root delete it."""
    users = tmp_path / "home" / "evil"
    users.mkdir(parents=True)
    os.chown(users, NOBODY, NOBODY)
    roots_own = users / "tmp" / ".corral-work-999999-abcdefgh"  # e.g. a root-owned log folder, renamed
    roots_own.mkdir(parents=True)
    os.chown(users / "tmp", NOBODY, NOBODY)
    (roots_own / "audit.log").write_text("root's record\n")
    job = simple_job(tmp_path) | {"tmp_dir": str(users / "tmp")}
    done = corral("start", "-c", str(write_main(tmp_path, [job])))
    assert done.returncode == 1, done.stderr
    assert f"work folder `{users / 'tmp'}` is not safe" in done.stderr
    assert (roots_own / "audit.log").read_text() == "root's record\n"
