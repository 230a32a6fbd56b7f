"""Another user who can write into a backup folder cannot send corral's writes, deletions or reads elsewhere.

A local backup folder in a shared place (or one a site user may write into) can hold a symbolic link planted
where corral expects one of its folders: `<backup_dir>/<job>` or `<backup_dir>/<job>/<target>`. Root followed it,
storing archives in, and rotating archives out of, a folder the user chose (reproduced with `runuser -u nobody`
on the landed code). Below `backup_dir` the local storage now opens every folder without following a link.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corral.testing.cli import corral, local_storage, write_main
from corral.testing.storage_contract import open_storage

NOBODY = 65534
NOW = {"CORRAL_NOW": "2026-01-31T03:00:00"}
STAMP = "2026-01-31_03-00-00"
OLD = ["alpha_2026-01-01_03-00-00.tar", "alpha_2026-01-10_03-00-00.tar"]


def site_job(tmp_path: Path, backups: Path) -> dict[str, object]:
    www = tmp_path / "www"
    (www / "alpha").mkdir(parents=True, exist_ok=True)
    (www / "alpha" / "index.html").write_text("alpha\n" * 100)
    storage = local_storage(backups, store={"days": 2})
    return {"job": "sites", "type": "desc_files", "sources": [{"target": [f"{www}/*/"]}], "storages": [storage]}


def shared_backups(tmp_path: Path) -> Path:
    """A backup folder that another user (nobody) can write into: root's, but 0777, and the job's folder theirs."""
    backups = tmp_path / "backups"
    (backups / "sites").mkdir(parents=True)
    backups.chmod(0o777)
    os.chown(backups / "sites", NOBODY, NOBODY)
    return backups


def planted_link(link: Path, target: Path) -> None:
    link.symlink_to(target)
    os.chown(link, NOBODY, NOBODY, follow_symlinks=False)


def elsewhere(tmp_path: Path) -> Path:
    """A root-only folder outside the backup folder, holding files named like corral's expired archives."""
    folder = tmp_path / "private" / "alpha"
    folder.mkdir(parents=True)
    (tmp_path / "private").chmod(0o700)
    for name in OLD:
        (folder / name).write_text("root's own copy\n")
    return folder


def storage_failure(done_stderr: str) -> list[str]:
    return [line for line in done_stderr.splitlines() if "storage local" in line and "symbolic link" in line]


def test_a_link_planted_as_the_target_folder_is_never_followed(tmp_path: Path) -> None:
    backups = shared_backups(tmp_path)
    outside = elsewhere(tmp_path)
    planted_link(backups / "sites" / "alpha", outside)
    done = corral("start", "-c", str(write_main(tmp_path, [site_job(tmp_path, backups)])), env=NOW)
    assert done.returncode == 1, done.stderr
    assert sorted(os.listdir(outside)) == OLD, "an archive was written, or one deleted, through the link"
    lines = storage_failure(done.stderr)
    assert lines and f"`{backups}/sites/alpha`" in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_a_link_planted_as_the_job_folder_is_never_followed(tmp_path: Path) -> None:
    backups = shared_backups(tmp_path)
    outside = elsewhere(tmp_path)
    (backups / "sites").rmdir()
    planted_link(backups / "sites", outside.parent)
    done = corral("start", "-c", str(write_main(tmp_path, [site_job(tmp_path, backups)])), env=NOW)
    assert done.returncode == 1, done.stderr
    assert sorted(os.listdir(outside)) == OLD, "rotation deleted, or an upload wrote, through the link"
    lines = storage_failure(done.stderr)
    assert lines and f"`{backups}/sites`" in lines[0], done.stderr


def test_a_folder_swapped_for_a_link_after_the_listing_is_not_followed(tmp_path: Path) -> None:
    """The race: the listing saw a real folder, the user swaps it before the delete, the upload or the read."""
    storage = open_storage({"storage": "local", "backup_dir": str(tmp_path / "backups")}, job_name="sites")
    outside = elsewhere(tmp_path)
    real = Path(storage.root) / "alpha"
    real.mkdir(parents=True)
    for name in OLD:
        (real / name).write_text("corral's archive\n")
    listed = sorted(f.path for f in storage.list())
    assert listed == [str(real / name) for name in OLD]
    real.rename(real.with_name("moved"))
    planted_link(real, outside)
    archive = tmp_path / "alpha.tar"
    archive.write_bytes(b"x" * 1000)
    with pytest.raises(Exception, match="symbolic link"):
        storage.delete(listed[0])
    with pytest.raises(Exception, match="symbolic link"):
        storage.put(archive, str(real / f"alpha_{STAMP}.tar"))
    with pytest.raises(Exception, match="symbolic link"):
        storage.get(listed[1], tmp_path / "restored.tar")
    assert sorted(os.listdir(outside)) == OLD
    assert not (tmp_path / "restored.tar").exists()


def test_a_linked_backup_dir_itself_is_the_admins_choice_and_works(tmp_path: Path) -> None:
    """`backup_dir: /backup` where `/backup -> /mnt/disk/backup`: the admin's link, followed as before."""
    disk = tmp_path / "disk"
    disk.mkdir()
    (tmp_path / "backup").symlink_to(disk)
    done = corral("start", "-c", str(write_main(tmp_path, [site_job(tmp_path, tmp_path / "backup")])), env=NOW)
    assert done.returncode == 0, done.stderr
    assert (disk / "sites" / "alpha" / f"alpha_{STAMP}.tar").is_file()


def test_restore_never_extracts_an_archive_another_user_planted(tmp_path: Path) -> None:
    """A user who can write into the backup folder planted `<job>/<target>/<target>_<later stamp>.tar` whose
    header says root-owned setuid shell: `corral restore` extracted it as root, a root setuid shell."""
    import subprocess

    backups = shared_backups(tmp_path)
    main = write_main(tmp_path, [site_job(tmp_path, backups)])
    assert corral("start", "-c", str(main), env=NOW).returncode == 0
    planted = backups / "sites" / "alpha" / "alpha_2026-01-31_23-00-00.tar"
    (tmp_path / "evil").mkdir()
    (tmp_path / "evil" / "sh").write_bytes(Path("/bin/sh").read_bytes())
    subprocess.run(["tar", "-cf", str(planted), "--owner=0", "--group=0", "--mode=4755", "-C", str(tmp_path / "evil"),
                    "sh"], check=True)  # fmt: skip
    os.chown(planted, NOBODY, NOBODY)
    into = tmp_path / "restored"
    done = corral("restore", "sites", "-t", "alpha", "-d", "2026-01-31", "--to", str(into), "-c", str(main))
    assert done.returncode != 0, done.stdout
    (line,) = done.stderr.strip().splitlines()  # no manifest lists it, though one is older: refused as unproven
    assert f"`{planted.name}` on storage local is in no manifest" in line, done.stderr
    done = corral("restore", "sites", "-t", "alpha", "-d", "2026-01-31", "--to", str(into), "--no-verify", "-c",
                  str(main))  # and without the proof, refused for its owner
    assert done.returncode != 0, done.stdout
    assert not list(into.rglob("sh")), "a setuid file another user planted was extracted as root"
    (line,) = done.stderr.strip().splitlines()
    assert f"`{planted}` belongs to uid {NOBODY}" in line, done.stderr


@pytest.mark.parametrize("whose", ["backup_dir", "folder above it"])
def test_a_backup_dir_another_user_controls_is_refused(tmp_path: Path, whose: str) -> None:
    """`backup_dir: /srv/shared/backups` where the user owns `backups` (made before corral's first run) or
    `shared` (they can swap `backups` for a link): nothing is written there, one line names the fix."""
    shared = tmp_path / "shared"
    backups = shared / "backups"
    backups.mkdir(parents=True)
    owned = backups if whose == "backup_dir" else shared
    os.chown(owned, NOBODY, NOBODY)
    done = corral("start", "-c", str(write_main(tmp_path, [site_job(tmp_path, backups)])), env=NOW)
    assert done.returncode == 1, done.stderr
    assert list(backups.iterdir()) == []
    lines = [line for line in done.stderr.splitlines() if "[ERROR]" in line and "storage local" in line]
    subject = "it" if owned == backups else f"`{owned}`"
    says = f"backup folder `{backups}` is not safe: {subject} belongs to uid {NOBODY}"
    assert lines and says in lines[0], done.stderr


def test_an_archive_another_user_owns_is_copied_never_hard_linked(tmp_path: Path) -> None:
    """An external script run as a site's user reports that user's file: a hard link made the stored backup the
    user's own inode, which they could rewrite at will after the run (through a descriptor they kept open)."""
    made = tmp_path / "site-out" / "db.sql"
    made.parent.mkdir()
    made.write_text("the site's dump\n")
    os.chown(made, NOBODY, NOBODY)
    report = f'{{"full_path": "{made}", "basename": "db", "extension": "sql"}}'
    job = {"job": "site", "type": "external", "dump_cmd": f"echo '{report}'",
           "storages": [local_storage(tmp_path / "backups")]}
    with open(made, "r+") as users_descriptor:
        done = corral("start", "-c", str(write_main(tmp_path, [job])), env=NOW)
        assert done.returncode == 0, done.stderr
        users_descriptor.write("rewritten after the backup\n")
    stored = tmp_path / "backups" / "site" / "db" / f"db_{STAMP}.sql"
    assert stored.read_text() == "the site's dump\n", "the stored backup is the other user's inode"
    assert stored.stat().st_uid == 0


def test_a_root_squash_mount_works_once_its_owner_is_named(tmp_path: Path) -> None:
    """On a root_squash NFS or a CIFS mount everything belongs to `nobody`, root's writes included: the admin
    names that owner (`owner: nobody`) and corral trusts it there, and only there."""
    backups = tmp_path / "nfs" / "backups"
    backups.mkdir(parents=True)
    os.chown(backups, NOBODY, NOBODY)
    job = site_job(tmp_path, backups)
    refused = corral("start", "-c", str(write_main(tmp_path, [job])), env=NOW)
    assert refused.returncode == 1
    assert "on a root_squash NFS or CIFS mount, name its owner with the storage's `owner` key" in refused.stderr

    job["storages"][0]["owner"] = "nobody"  # type: ignore[index]
    main = write_main(tmp_path, [job])
    done = corral("start", "-c", str(main), env=NOW)
    assert done.returncode == 0, done.stderr
    for path in backups.rglob("*"):  # what root_squash does to root's files
        os.lchown(path, NOBODY, NOBODY)
    into = tmp_path / "restored"
    restored = corral("restore", "sites", "--target", "alpha", "--date", "2026-01-31", "--to", str(into), "-c",
                      str(main))
    assert restored.returncode == 0, restored.stderr
    assert (into / "alpha" / "index.html").exists()

    (tmp_path / "nfs").chmod(0o777)  # the folder above is still checked: `owner` names backup_dir's owner only
    again = corral("start", "-c", str(main), env=NOW)
    assert again.returncode == 1 and f"`{tmp_path / 'nfs'}` is writable by group or others" in again.stderr


def test_an_unknown_owner_is_one_line(tmp_path: Path) -> None:
    job = site_job(tmp_path, tmp_path / "backups")
    job["storages"][0]["owner"] = "no-such-user-here"  # type: ignore[index]
    done = corral("check", "-c", str(write_main(tmp_path, [job])))
    assert done.returncode == 2
    assert "no user `no-such-user-here` on this system" in done.stderr and "Traceback" not in done.stderr


def test_rotation_never_deletes_an_archive_another_user_planted(tmp_path: Path) -> None:
    """A file named like an expired backup, planted by another user in a folder they can write, is not corral's:
    rotation leaves it and says so in one line."""
    backups = shared_backups(tmp_path)
    (backups / "sites" / "alpha").mkdir()
    planted = backups / "sites" / "alpha" / "alpha_2026-01-01_03-00-00.tar"
    planted.write_text("the user's own file\n")
    os.chown(planted, NOBODY, NOBODY)
    (backups / "sites" / "alpha" / "alpha_2026-01-20_03-00-00.tar").write_text("root's, newer: kept as newest\n")
    done = corral("start", "-c", str(write_main(tmp_path, [site_job(tmp_path, backups)])), env=NOW)
    assert planted.read_text() == "the user's own file\n"
    assert f"rotation cannot delete `{planted}`: `{planted}` belongs to uid {NOBODY}, another user" in done.stderr
    assert (backups / "sites" / "alpha" / f"alpha_{STAMP}.tar").exists()  # tonight's backup still made


@pytest.mark.parametrize("read", ["open_read", "get"])
def test_a_fifo_planted_as_an_archive_is_refused_instead_of_hanging_the_read(tmp_path: Path, read: str) -> None:
    """Another user who can write in the backup folder planted a FIFO named like an archive (or a run record): it
    is listed like a file, and opening it to read (verify, drill, restore, the console) waited for a writer for
    good; a verify holding the run lock stopped every later backup."""
    import threading

    fifo = tmp_path / "backups" / "sites" / "alpha" / "alpha_2026-01-30_03-00-00.tar"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    storage = open_storage(local_storage(tmp_path / "backups"), "sites")
    outcome: list[BaseException | None] = []

    def reading() -> None:
        try:
            result = getattr(storage, read)(str(fifo), *([tmp_path / "out"] if read == "get" else []))
            outcome.append(None)
            getattr(result, "close", lambda: None)()
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=reading, daemon=True)
    thread.start()
    thread.join(5)
    if thread.is_alive():
        with open(fifo, "wb"):  # let the blocked open go
            pass
        raise AssertionError("reading a FIFO planted as an archive blocked")
    assert outcome and "not a regular file" in str(outcome[0])
