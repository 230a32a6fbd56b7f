"""Archives stream from the dump to every storage at once: nothing of them in tmp_dir, the same bytes everywhere,
and a dump that fails half-way leaves nothing under a final name anywhere (no temp file either).

A storage with `spool: yes` (or one that takes files only) gets the archive from one temp
file written beside the stream.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from corral.testing.cli import corral, local_storage, write_main
from corral_testservers import SSHServer

NOW = "2026-03-01T03:00:00"
NAME = "site_2026-03-01_03-00-00.tar.gz"


def _sftp(server: SSHServer, folder: str) -> dict[str, Any]:
    return {"storage": "sftp", "backup_dir": str(server.home / folder), "host": server.host, "port": server.port,
            "user": server.user, "path_to_key": str(server.key_path), "known_hosts": str(server.known_hosts)}


def _site(tmp_path: Path, size: int) -> Path:
    site = tmp_path / "www" / "site"
    site.mkdir(parents=True)
    (site / "index.html").write_text("hello\n")
    (site / "blob.bin").write_bytes(os.urandom(size))
    return site


def test_one_stream_reaches_every_storage_and_the_manifest_proves_it(tmp_path: Path, sshd_server: SSHServer) -> None:
    site = _site(tmp_path, 3_000_000)
    storages = [local_storage(tmp_path / "streamed"), local_storage(tmp_path / "spooled", spool=True),
                _sftp(sshd_server, f"stream-{os.getpid()}")]
    main = write_main(tmp_path, [{"job": "web", "type": "desc_files", "sources": [{"target": [str(site)],
                                                                                  "gzip": True}],
                                  "storages": storages}])
    done = corral("start", "-v", "-c", str(main), env={"CORRAL_NOW": NOW})
    assert done.returncode == 0, done.stderr
    copies = [tmp_path / "streamed" / "web" / "site" / NAME, tmp_path / "spooled" / "web" / "site" / NAME,
              sshd_server.home / f"stream-{os.getpid()}" / "web" / "site" / NAME]
    assert copies[0].read_bytes() == copies[1].read_bytes() == copies[2].read_bytes()
    members = subprocess.run(["tar", "-tzf", str(copies[0])], capture_output=True, text=True, check=True).stdout
    assert sorted(members.split()) == ["site/", "site/blob.bin", "site/index.html"]
    log = (tmp_path / "log" / "corral.log").read_text()
    assert "target site: archive made and streamed (" in log
    assert "written to a temp file for local#2 (spool: yes, or no stream support)" in log
    assert "[web] storage local: stored `" in log and ", streamed)" in log
    for folder in (tmp_path / "streamed" / "web", tmp_path / "spooled" / "web"):  # sha256sum proves each copy
        manifests = list((folder / ".manifests").glob("*.sha256"))
        checked = subprocess.run(["sha256sum", "-c", str(manifests[0])], cwd=folder, capture_output=True, text=True)
        assert checked.returncode == 0 and checked.stdout.strip() == f"site/{NAME}: OK", checked.stdout
    assert not [p for p in (tmp_path / "tmp").rglob("*") if p.is_file() and "corral.lock" not in p.name]


def test_a_dump_stopped_half_way_leaves_nothing_anywhere(tmp_path: Path) -> None:
    site = _site(tmp_path, 200_000_000)
    storages = [local_storage(tmp_path / "streamed"), local_storage(tmp_path / "spooled", spool=True)]
    main = write_main(tmp_path, [{"job": "web", "type": "desc_files", "sources": [{"target": [str(site)],
                                                                                  "gzip": True}],
                                  "storages": storages}], dump_timeout=0.5)
    done = corral("start", "-c", str(main), env={"CORRAL_NOW": NOW})
    assert done.returncode == 1, done.stderr
    assert ("[web] source 1: target site: dump timed out after 0.5 s (dump_timeout) and was stopped; nothing was "
            "stored") in done.stderr
    for folder in (tmp_path / "streamed", tmp_path / "spooled", tmp_path / "tmp"):  # but the failed run's record
        left = [p for p in folder.rglob("*") if p.is_file() and p.name != "corral.lock" and ".runs" not in p.parts]
        assert not left, folder
    for folder in (tmp_path / "streamed", tmp_path / "spooled"):
        [record] = (folder / "web" / ".runs").iterdir()
        assert '"outcome":"failed"' in record.read_text()
