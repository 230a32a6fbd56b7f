"""`corral restore --to` somewhere it cannot write is one line naming the folder, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.testing.cli import corral, local_storage, write_main
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
