"""`corral restore --to` somewhere it cannot write is one line naming the folder, never a traceback."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from corral.testing.cli import corral, local_storage, start_in_small_tmp, write_main
from tests.conftest import report_json, script


@pytest.fixture
def backed_up(tmp_path: Path) -> Path:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("hello\n")
    dump = 'echo x > "$CORRAL_TMP_DIR/db.txt"\n' + report_json("$CORRAL_TMP_DIR/db.txt", "db")
    ext = script(tmp_path / "ext.sh", dump)
    jobs = [{"job": "www", "type": "desc_files", "sources": [{"target": [str(tmp_path / "site")]}],
             "storages": [local_storage(tmp_path / "b")]},
            {"job": "db", "type": "external", "dump_cmd": ext, "storages": [local_storage(tmp_path / "b")]}]
    main = write_main(tmp_path, jobs)
    done = corral("start", "-c", str(main), env={"CORRAL_NOW": "2026-03-01T03:00:00"})
    assert done.returncode == 0, done.stderr
    return main


@pytest.mark.parametrize(("job", "target"), [("www", "site"), ("db", "db")])
def test_restore_into_a_place_it_cannot_write_is_one_line(backed_up: Path, tmp_path: Path, job: str,
                                                         target: str) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("mine\n")
    for dest in (a_file, a_file / "below"):
        done = corral("restore", job, "--target", target, "--date", "2026-03-01", "--to", str(dest), "-c",
                      str(backed_up))
        assert done.returncode == 1, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("corral: error: ") and f"`{dest}`" in lines[0], done.stderr
    assert a_file.read_text() == "mine\n"


def test_fetching_over_a_folder_of_the_archive_s_name_is_one_line(backed_up: Path, tmp_path: Path) -> None:
    dest = tmp_path / "restored"
    stored = next((tmp_path / "b" / "db").rglob("*.txt"))
    (dest / stored.name).mkdir(parents=True)  # something of the archive's name is in the way
    done = corral("restore", "db", "--target", "db", "--date", "2026-03-01", "--to", str(dest), "--force", "-c",
                  str(backed_up))
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("corral: error: ") and stored.name in lines[0], done.stderr


def test_a_fetch_never_writes_through_a_link_in_the_folder(backed_up: Path, tmp_path: Path) -> None:
    """A site user who owns the --to folder plants a link of the archive's name (the name is the date of a cron
    run): the dump is fetched beside it and put in place by a rename, so the file it points to is never written."""
    dest = tmp_path / "restored"
    dest.mkdir()
    stored = next((tmp_path / "b" / "db").rglob("*.txt"))
    victim = tmp_path / "victim.conf"
    victim.write_text("root's own file\n")
    (dest / stored.name).symlink_to(victim)
    done = corral("restore", "db", "--target", "db", "--date", "2026-03-01", "--to", str(dest), "--force", "-c",
                  str(backed_up))
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == "root's own file\n"
    restored = dest / stored.name
    assert not restored.is_symlink() and restored.read_text() == stored.read_text()


@pytest.mark.parametrize(("job", "target"), [("www", "site"), ("db", "db")])
def test_a_dry_run_refuses_a_folder_with_files_as_the_restore_would(backed_up: Path, tmp_path: Path, job: str,
                                                                    target: str) -> None:
    """The plan said it would extract into a folder with files (exit 0) that the real restore then refused: a
    dry run checks the destination as the restore does (it only reads it)."""
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine\n")
    done = corral("restore", job, "--target", target, "--to", str(dest), "--dry-run", "-c", str(backed_up))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (f"corral: error: `{dest}` is not empty (1 entry): restoring merges into it; use "
                                   "--force to restore into it anyway")
    forced = corral("restore", job, "--target", target, "--to", str(dest), "--dry-run", "--force", "-c",
                    str(backed_up))
    assert forced.returncode == 0, forced.stderr
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("job", ["www", "db"])
def test_a_to_folder_another_user_could_control_is_refused(backed_up: Path, tmp_path: Path, job: str) -> None:
    """A local user pre-makes the empty folder the admin will name (/tmp/restore, theirs or 0777), or plants a
    link there: they could swap what tar writes, or send it elsewhere. One line naming the folder, exit 2."""
    target = "site" if job == "www" else "db"
    theirs, open_to_all, link, root_only = (tmp_path / name for name in ("theirs", "open", "link", "root-only"))
    for folder in (theirs, open_to_all, root_only):
        folder.mkdir()
    os.chown(theirs, 65534, 65534)
    open_to_all.chmod(0o777)
    root_only.chmod(0o700)
    link.symlink_to(root_only)
    for dest, why in ((theirs, "belongs to uid 65534"), (open_to_all, "writable by group or others"),
                      (link, "it is a symlink"), (theirs / "below", "belongs to uid 65534")):
        done = corral("restore", job, "--target", target, "--to", str(dest), "-c", str(backed_up))
        assert done.returncode == 2, done.stdout + done.stderr
        [line] = done.stderr.splitlines()
        assert f"`{dest}`" in line and why in line, line
    assert [list(folder.iterdir()) for folder in (theirs, open_to_all, root_only)] == [[], [], []]


def test_a_missing_to_folder_is_made_private_and_an_own_empty_one_is_taken(backed_up: Path, tmp_path: Path) -> None:
    made = tmp_path / "new" / "restored"
    done = corral("restore", "www", "--target", "site", "--to", str(made), "-c", str(backed_up))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(made.stat().st_mode) == 0o700 and (made / "site" / "index.html").read_text() == "hello\n"
    own = tmp_path / "own"
    own.mkdir(mode=0o755)
    done = corral("restore", "www", "--target", "site", "--to", str(own), "-c", str(backed_up))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(own.stat().st_mode) == 0o755 and (own / "site" / "index.html").is_file()


def test_an_empty_to_is_refused_not_taken_for_the_current_folder(backed_up: Path, tmp_path: Path) -> None:
    """`--to "$DEST" --force` with DEST unset would restore into cron's current folder (/ or $HOME)."""
    here = tmp_path / "cwd"
    here.mkdir()
    (here / "notes.txt").write_text("the admin's\n")
    for extra in ([], ["--force"]):
        done = corral("restore", "www", "--target", "site", "--to", "", *extra, "-c", str(backed_up), cwd=here)
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.startswith("corral: error: --to '' names no folder"), done.stderr
    assert [p.name for p in here.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("full", ["tmp", "out"])
def test_a_full_disk_during_a_restore_names_the_folder(tmp_path: Path, full: str) -> None:
    """Where the archive is fetched (the job's tmp_dir) or --to fills up: one line naming that folder as full,
    not `unexpected OSError: [Errno 28]`."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "big.bin").write_bytes(os.urandom(3_000_000))
    main = write_main(tmp_path, [{"job": "www", "type": "desc_files", "sources": [{"target": [str(tmp_path / "site")],
                                  "gzip": False}], "storages": [local_storage(tmp_path / "b")]}])
    assert corral("start", "-c", str(main)).returncode == 0
    small = tmp_path / full
    folder = small / "www" if full == "tmp" else small
    done = start_in_small_tmp(small, ["restore", "www", "--target", "site", "--to", str(tmp_path / "out"), "-c",
                                      str(main)], size="1m")
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("corral: error: ") and f"(`{folder}` is full: " in line, line
