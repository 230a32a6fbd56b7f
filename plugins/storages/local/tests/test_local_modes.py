"""What the local storage leaves on disk: permissions from `file_mode`/`dir_mode`, and fsync before the rename."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.testing.cli import CORRAL, corral, local_storage, write_main
from corral.testing.storage_contract import open_storage

NOW = {"CORRAL_NOW": "2026-01-31T03:00:00"}
STAMP = "2026-01-31_03-00-00"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def site_job(www: Path, *storages: dict[str, object]) -> dict[str, object]:
    (www / "alpha").mkdir(parents=True, exist_ok=True)
    (www / "alpha" / "index.html").write_text("alpha\n" * 100)
    return {"job": "sites", "type": "desc_files", "sources": [{"target": [f"{www}/*/"]}], "storages": list(storages)}


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A folder on another filesystem than the work folder: the archive is copied there, not hard-linked."""
    mount = tmp_path / "other-fs"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_run_stores_archives_0600_in_new_folders_0700_and_leaves_existing_folders_alone(tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    backups.mkdir(mode=0o755)
    backups.chmod(0o755)  # the admin's folder, made before corral ran
    done = corral("start", "-c", str(write_main(tmp_path, [site_job(tmp_path / "www", local_storage(backups))])),
                  env=NOW)  # fmt: skip
    assert done.returncode == 0, done.stderr
    archive = backups / "sites" / "alpha" / f"alpha_{STAMP}.tar"
    assert mode(archive) == 0o600
    assert mode(archive.parent) == 0o700 and mode(archive.parent.parent) == 0o700
    assert mode(backups) == 0o755


@pytest.mark.parametrize("where", ["same filesystem (hard link)", "other filesystem (copy)"])
def test_file_mode_and_dir_mode_of_the_storage_entry_apply(tmp_path: Path, tmpfs: Path, where: str) -> None:
    backups = tmp_path / "backups" if where.startswith("same") else tmpfs / "backups"
    storage = local_storage(backups, file_mode="0640", dir_mode=0o750)
    done = corral("start", "-c", str(write_main(tmp_path, [site_job(tmp_path / "www", storage)])), env=NOW)
    assert done.returncode == 0, done.stderr
    archive = backups / "sites" / "alpha" / f"alpha_{STAMP}.tar"
    assert mode(archive) == 0o640
    assert [mode(folder) for folder in (backups, backups / "sites", archive.parent)] == [0o750] * 3


def test_a_hard_link_shared_by_two_storages_never_changes_the_other_ones_mode(tmp_path: Path) -> None:
    """One archive, three local storages on one filesystem: each copy has its own storage's mode."""
    archive = tmp_path / "work" / "db.sql"
    archive.parent.mkdir()
    archive.write_bytes(os.urandom(100_000))
    archive.chmod(0o600)
    stored = {}
    for name, file_mode in (("a", 0o640), ("b", 0o600), ("c", 0o640)):
        storage = open_storage({"storage": "local", "backup_dir": str(tmp_path / name), "file_mode": file_mode})
        stored[name] = Path(storage.root) / "db" / f"db_{STAMP}.sql"
        storage.put(archive, str(stored[name]))
    assert {name: mode(path) for name, path in stored.items()} == {"a": 0o640, "b": 0o600, "c": 0o640}
    assert stored["a"].samefile(archive) and stored["c"].samefile(archive), "same mode: hard links"
    assert not stored["b"].samefile(archive), "another mode: a copy"
    assert all(path.read_bytes() == archive.read_bytes() for path in stored.values())


def test_the_archive_is_fsynced_before_its_rename_and_its_folder_after(tmp_path: Path) -> None:
    """`strace` on the real command: fsync(temp file) < rename(temp, final) < fsync(folder), for every archive."""
    backups = tmp_path / "backups"
    www = tmp_path / "www"
    job = site_job(www, local_storage(backups))
    (www / "beta").mkdir()
    (www / "beta" / "data.bin").write_bytes(os.urandom(200_000))
    trace = tmp_path / "trace.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CORRAL_")} | NOW
    done = subprocess.run(
        ["strace", "-f", "-y", "-qq", "-o", str(trace), "-e", "trace=fsync,fdatasync,rename,renameat,renameat2",
         *CORRAL, "start", "-c", str(write_main(tmp_path, [job]))],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    if done.returncode and "ptrace" in done.stderr:
        pytest.skip(f"strace cannot trace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    calls = trace.read_text().splitlines()
    # renameat(5</dir>, ".name.partial-x", 5</dir>, "name") as full paths: the storage renames in an open folder
    calls = [re.sub(r'\d+<([^>]*)>, "([^"/]*)"', r'"\1/\2"', call) if "rename" in call else call for call in calls]
    archives = sorted(backups.rglob("*.tar"))
    assert len(archives) == 2
    for archive in archives:
        renamed = [i for i, call in enumerate(calls) if re.search(rf'rename\w*\(.*"{re.escape(str(archive))}"', call)]
        assert len(renamed) == 1, f"one rename to {archive}"
        temp = re.search(r'"([^"]*\.partial-[0-9a-f]+)"', calls[renamed[0]])
        assert temp and Path(temp[1]).parent == archive.parent
        synced_file = [i for i, call in enumerate(calls) if "fsync(" in call and f"<{temp[1]}>" in call]
        synced_dir = [i for i, call in enumerate(calls) if "fsync(" in call and f"<{archive.parent}>)" in call]
        assert synced_file and synced_file[0] < renamed[0], f"{archive.name}: no fsync of its bytes before the rename"
        assert any(i > renamed[0] for i in synced_dir), f"{archive.name}: its folder is not fsync'd after the rename"


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("file_mode", 640, "`640` reads as a decimal number, write it in octal: `0640`"),
        # under 0777 in decimal too: `400` (0620, group-writable) or `444` (0674) must not pass for 0400 or 0444
        ("file_mode", 400, "`400` is a decimal number in YAML, mode `0620`: write the mode in octal, `0400`"),
        ("file_mode", 444, "`444` is a decimal number in YAML, mode `0674`: write the mode in octal, `0444`"),
        ("dir_mode", 500, "`500` is a decimal number in YAML, mode `0764`: write the mode in octal, `0500`"),
        ("file_mode", "rw-r-----", "expected an octal mode such as `0640`"),
        ("dir_mode", "0600", "`dir_mode: 0600` leaves corral unable to read, write and enter the folders it creates"),
        ("file_mode", "01777", "a mode is between `0000` and `0777`"),
    ],
)
def test_a_wrong_mode_is_one_line_naming_the_key(tmp_path: Path, key: str, value: object, says: str) -> None:
    main = write_main(tmp_path, [site_job(tmp_path / "www", local_storage(tmp_path / "b", **{key: value}))])
    done = corral("check", "-c", str(main))
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if key in line]
    assert len(lines) == 1 and says in lines[0] and "sites" in lines[0] and "corral.conf" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
