"""``corral restore --to`` of a ``postgresql_hot`` backup takes no folder as it finds it: the tablespaces' folder
beside --to is created by the restore (one planted there, a link included, is refused), --force does not hand a
folder's earlier files to postgres, and an archive whose ``base.tar`` makes ``tablespace_map`` or
``backup_manifest`` a folder is refused in one line. The archives stand for base backups (a PG_VERSION, a
tablespace) with their manifest, as an attacker who can write the storage would leave them."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pwd
import tarfile
from pathlib import Path

import pytest

from corral.testing.cli import corral, local_storage, write_main

TARGET = "pg_127.0.0.1_5432"


def _tar(members: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as packed:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                packed.addfile(member)
                continue
            info = tarfile.TarInfo(member[0])
            info.size, info.mode = len(member[1]), 0o600
            packed.addfile(info, io.BytesIO(member[1]))
    return out.getvalue()


def _folder(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o700
    return info


def _job(tmp_path: Path, base: list[tarfile.TarInfo | tuple[str, bytes]], tablespace: bool = False) -> Path:
    """A stored base backup (its manifest agrees) and the config of its job."""
    folder = tmp_path / "b" / "hot" / TARGET
    folder.mkdir(parents=True)
    archive = folder / f"{TARGET}_2026-01-31_03-00-00.tar"
    members: list[tarfile.TarInfo | tuple[str, bytes]] = [("base.tar", _tar([("PG_VERSION", b"15\n"), *base]))]
    if tablespace:
        members.append(("16385.tar", _tar([("PG_15_202209061/5/16386", b"customer rows\n")])))
    archive.write_bytes(_tar([*members, ("pg_wal.tar", _tar([]))]))
    good = archive.read_bytes()
    (tmp_path / "b" / "hot" / ".manifests").mkdir()
    (tmp_path / "b" / "hot" / ".manifests" / "2026-01-31_03-00-00.json").write_text(json.dumps(
        {"format": "corral-manifest", "version": 1, "job": "hot", "archives": [
            {"path": f"{TARGET}/{archive.name}", "size": len(good), "sha256": hashlib.sha256(good).hexdigest()}]}))
    return write_main(tmp_path, [{"job": "hot", "type": "postgresql_hot",
                                  "sources": [{"connect": {"db_host": "127.0.0.1", "db_port": 5432}}],
                                  "storages": [local_storage(tmp_path / "b")]}])


@pytest.mark.parametrize("planted", ["folder", "link"])
def test_a_planted_tablespaces_folder_is_refused(tmp_path: Path, planted: str) -> None:
    config = _job(tmp_path, [], tablespace=True)
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o1777)
    os.chmod(shared, 0o1777)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    if planted == "link":
        (shared / "restored.tablespaces").symlink_to(theirs)
    else:
        (shared / "restored.tablespaces").mkdir()
    done = corral("restore", "hot", "--target", TARGET, "--to", str(shared / "restored"), "-c", str(config))
    assert done.returncode != 0, done.stdout + done.stderr
    assert "restored.tablespaces` exists" in done.stderr, done.stderr
    assert list(theirs.iterdir()) == [] and not any((shared / "restored.tablespaces").iterdir())


def test_a_tablespace_goes_into_a_folder_the_restore_made(tmp_path: Path) -> None:
    config = _job(tmp_path, [], tablespace=True)
    done = corral("restore", "hot", "--target", TARGET, "--to", str(tmp_path / "restored"), "-c", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    spaces = tmp_path / "restored.tablespaces"
    assert spaces.stat().st_mode & 0o777 == 0o700
    assert (spaces / "16385" / "PG_15_202209061" / "5" / "16386").read_bytes() == b"customer rows\n"
    assert (tmp_path / "restored" / "tablespace_map").read_text() == f"16385 {spaces / '16385'}\n"


def test_force_hands_no_earlier_file_to_postgres(tmp_path: Path) -> None:
    config = _job(tmp_path, [])
    srv = tmp_path / "srv"
    (srv / "www").mkdir(parents=True)
    os.chmod(srv, 0o755)
    (srv / "www" / "index.html").write_text("a site\n")
    nobody = pwd.getpwnam("nobody")
    os.chown(srv / "www" / "index.html", nobody.pw_uid, nobody.pw_gid)
    done = corral("restore", "hot", "--target", TARGET, "--to", str(srv), "--force", "-c", str(config))
    assert done.returncode != 0, done.stdout + done.stderr
    assert "is not empty: a base backup is restored into an empty folder only" in done.stderr, done.stderr
    assert (srv / "www" / "index.html").stat().st_uid == nobody.pw_uid
    assert srv.stat().st_mode & 0o777 == 0o755 and sorted(os.listdir(srv)) == ["www"]


@pytest.mark.parametrize("name", ["tablespace_map", "backup_manifest"])
def test_a_folder_where_a_file_belongs_is_refused_in_one_line(tmp_path: Path, name: str) -> None:
    config = _job(tmp_path, [_folder(name), (f"{name}/x", b"x")], tablespace=name == "tablespace_map")
    if name == "backup_manifest":  # the outer member that corral writes beside the data
        stored = next((tmp_path / "b" / "hot" / TARGET).iterdir())
        with tarfile.open(stored) as outer:
            members = [(m.name, outer.extractfile(m).read()) for m in outer.getmembers()]  # type: ignore[union-attr]
        good = _tar([*members, ("backup_manifest", b"{}")])
        stored.write_bytes(good)
        manifest = next((tmp_path / "b" / "hot" / ".manifests").iterdir())
        entry = json.loads(manifest.read_text())
        entry["archives"][0].update(size=len(good), sha256=hashlib.sha256(good).hexdigest())
        manifest.write_text(json.dumps(entry))
    done = corral("restore", "hot", "--target", TARGET, "--to", str(tmp_path / "restored"), "-c", str(config))
    assert done.returncode != 0, done.stdout + done.stderr
    assert f"`{name}` in the base backup is a folder" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
