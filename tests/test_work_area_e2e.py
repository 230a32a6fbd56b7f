"""The work area, lock and log cannot be turned against root by another local user."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from corral.testing.cli import corral, local_storage, write_main
from tests.conftest import report_json, script

NOBODY = 65534
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A root file an attacker would like emptied or overwritten."""
    path = tmp_path / "shadow"
    path.write_text("root:secret-hash:19000::::::\n")
    path.chmod(0o600)
    return path


def simple_job(tmp_path: Path) -> dict[str, object]:
    ext = script(tmp_path / "ext.sh", 'echo x > "$CORRAL_TMP_DIR/x.txt"\n' + report_json("$CORRAL_TMP_DIR/x.txt", "x"))
    return {"job": "ext", "type": "external", "dump_cmd": ext, "storages": [local_storage(tmp_path / "backups")]}


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("corral: error: "), done.stderr
    return lines[0]


def test_fresh_work_area_is_private_with_unpredictable_work_folders(tmp_path: Path) -> None:
    done = corral("start", "-c", str(write_main(tmp_path, [simple_job(tmp_path)])))
    assert done.returncode == 0, done.stderr
    area = tmp_path / "tmp"
    assert stat.S_IMODE(area.stat().st_mode) == 0o700
    assert stat.S_IMODE((area / "ext").stat().st_mode) == 0o700
    assert list((area / "ext").iterdir()) == []  # the run's work folder went with it


def test_work_area_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    area = tmp_path / "tmp"
    area.mkdir(mode=0o700)
    os.chown(area, NOBODY, NOBODY)
    line = one_error_line(corral("start", "-c", str(write_main(tmp_path, [simple_job(tmp_path)]))))
    assert f"work folder `{area}` is not safe: it belongs to uid {NOBODY}" in line
    assert list(area.iterdir()) == []  # nothing written where the other user could read or swap it
    assert not (tmp_path / "backups").exists()


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o770])
def test_work_area_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    area = tmp_path / "tmp"
    area.mkdir()
    area.chmod(mode)
    line = one_error_line(corral("start", "-c", str(write_main(tmp_path, [simple_job(tmp_path)]))))
    assert (f"work folder `{area}` is not safe: it is writable by group or others (mode {mode:04o}; "
            f"fix: `chmod go-w {area}`)") in line
    assert list(area.iterdir()) == []


def test_work_area_under_a_folder_another_user_owns_is_refused(tmp_path: Path) -> None:
    """`/var/tmp/evil/corral` where `evil` is the attacker's: they could swap `corral` at any time."""
    evil = tmp_path / "evil"
    evil.mkdir()
    os.chown(evil, NOBODY, NOBODY)
    main = write_main(tmp_path, [simple_job(tmp_path)], general_path_to_all_tmp_dir=str(evil / "corral"))
    line = one_error_line(corral("start", "-c", str(main)))
    assert f"work folder `{evil}/corral` is not safe: `{evil}` belongs to uid {NOBODY}, another user" in line
    assert not (evil / "corral").exists()


def test_work_area_through_another_users_symlink_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "tmp"
    link.symlink_to(real)
    os.lchown(link, NOBODY, NOBODY)
    line = one_error_line(corral("start", "-c", str(write_main(tmp_path, [simple_job(tmp_path)]))))
    assert f"work folder `{link}` is not safe: it belongs to uid {NOBODY}" in line


def test_lock_symlink_to_a_root_file_is_refused_and_the_file_untouched(tmp_path: Path, victim: Path) -> None:
    area = tmp_path / "tmp"
    area.mkdir(mode=0o700)
    (area / "corral.lock").symlink_to(victim)
    line = one_error_line(corral("start", "-c", str(write_main(tmp_path, [simple_job(tmp_path)]))))
    assert f"cannot open the lock file `{area}/corral.lock`: it is a symlink" in line
    assert victim.read_text() == "root:secret-hash:19000::::::\n"


def test_lock_hard_link_to_a_root_file_is_refused(tmp_path: Path, victim: Path) -> None:
    area = tmp_path / "tmp"
    area.mkdir(mode=0o700)
    os.link(victim, area / "corral.lock")
    line = one_error_line(corral("start", "-c", str(write_main(tmp_path, [simple_job(tmp_path)]))))
    assert f"lock file `{area}/corral.lock` is refused: it has other hard links" in line
    assert victim.read_text() == "root:secret-hash:19000::::::\n"


def test_lock_file_of_someone_else_is_refused(tmp_path: Path) -> None:
    """`lock_file` in a sticky shared folder, pre-created by another user: refused, not used."""
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o1777)
    shared.chmod(0o1777)
    lock = shared / "corral.lock"
    lock.write_text("")
    os.chown(lock, NOBODY, NOBODY)
    main = write_main(tmp_path, [simple_job(tmp_path)], lock_file=str(lock))
    line = one_error_line(corral("start", "-c", str(main)))
    assert f"lock file `{lock}` is refused: it belongs to uid {NOBODY}, another user" in line


def test_lock_never_empties_a_file_that_is_not_a_lock(tmp_path: Path) -> None:
    """`lock_file` pointed by mistake at a real file: corral leaves it as it was."""
    notes = tmp_path / "notes.txt"
    notes.write_text("precious\n")
    main = write_main(tmp_path, [simple_job(tmp_path)], lock_file=str(notes))
    line = one_error_line(corral("start", "-c", str(main)))
    assert f"lock file `{notes}` holds something else than a corral lock record" in line
    assert notes.read_text() == "precious\n"


def test_log_file_symlink_is_refused_and_the_file_untouched(tmp_path: Path, victim: Path) -> None:
    (tmp_path / "log").mkdir(mode=0o700)
    (tmp_path / "log" / "corral.log").symlink_to(victim)
    line = one_error_line(corral("start", "-c", str(write_main(tmp_path, [simple_job(tmp_path)]))))
    assert f"cannot open the log file `{tmp_path}/log/corral.log`: it is a symlink" in line
    assert victim.read_text() == "root:secret-hash:19000::::::\n"


def test_quickstart_folder_taken_by_another_user_is_refused(tmp_path: Path) -> None:
    """The README's quickstart writes under /tmp: a user who creates its folder first gets nothing.

    The shipped example, with `/tmp` moved to a sticky world-writable folder of the test's own (the real /tmp is
    shared with everyone and may hold the repository itself).
    """
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    for name in ("corral.conf", "conf.d/etc.conf"):
        text = (ROOT / "examples" / "quickstart" / name).read_text()
        assert "/tmp/corral-quickstart" in text
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text.replace("/tmp/corral-quickstart", f"{shared}/corral-quickstart"))
    taken = shared / "corral-quickstart"
    taken.mkdir()
    taken.chmod(0o777)
    os.chown(taken, NOBODY, NOBODY)
    done = corral("start", "-c", str(tmp_path / "corral.conf"))
    assert one_error_line(done) == (
        f"corral: error: folder of the log file `{taken}` is not safe: it belongs to uid {NOBODY}, another user "
        f"(fix: `chown 0 {taken}`, or choose a folder only root can write)")
    assert list(taken.iterdir()) == []


def test_generate_never_writes_through_a_symlink(tmp_path: Path, victim: Path) -> None:
    """`corral generate --path` into a shared folder: a planted symlink (even a dangling one) is not followed."""
    dangling = tmp_path / "new-root-file"
    for target in (victim, dangling):
        link = tmp_path / f"job-{target.name}.conf"
        link.symlink_to(target)
        done = corral("generate", "--type", "desc_files", "--storage", "local", "--path", str(link))
        assert done.returncode == 2
        assert done.stderr.strip() == f"corral: error: `{link}` exists; remove it or choose another --path"
    assert victim.read_text() == "root:secret-hash:19000::::::\n"
    assert not dangling.exists()
    fresh = tmp_path / "conf.d" / "job.conf"
    assert corral("generate", "--type", "desc_files", "--storage", "local", "--path", str(fresh)).returncode == 0
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert stat.S_IMODE(fresh.parent.stat().st_mode) == 0o700


def test_only_dead_runs_work_folders_are_removed(tmp_path: Path) -> None:
    job_tmp = tmp_path / "tmp" / "ext"
    job_tmp.mkdir(parents=True, mode=0o700)
    (tmp_path / "tmp").chmod(0o700)
    dead, older = job_tmp / ".corral-work-999999999-abcdefgh", job_tmp / ".corral-20260101000000"
    alive = job_tmp / ".corral-work-1-abcdefgh"  # pid 1 lives: another run's, whatever its lock
    foreign = [job_tmp / ".corral-work-mine", job_tmp / "notes", job_tmp / ".corral-work-999999998-abcdefgh"]
    for folder in (dead, older, alive, *foreign):
        folder.mkdir()
        (folder / "data").write_text("x")
    os.chown(foreign[-1], NOBODY, NOBODY)  # not the running user's: not ours to remove
    done = corral("start", "-v", "-c", str(write_main(tmp_path, [simple_job(tmp_path)])))
    assert done.returncode == 0, done.stderr
    assert not dead.exists() and not older.exists()
    assert f"removed `{dead}` (1 bytes), the work folder of run pid 999999999 that died" in done.stderr
    assert f"removed `{older}` (1 bytes), the work folder of a run of an older corral that died" in done.stderr
    assert alive.exists() and all(folder.exists() for folder in foreign)
