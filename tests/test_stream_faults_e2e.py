"""A storage whose server freezes in the middle of a stream drops out of it; the others get the archive.

The real `corral start` streams one desc_files archive (48 MB of random bytes, gzip) to `local` and to a storage
whose server (smbd, nfs-ganesha, wsgidav: an instance of the test's own) is frozen with SIGSTOP as soon as the
stream's temp file has bytes on its disk. The frozen storage fails within its timeout, in one line; the local copy
is whole; nothing is under the final name on the frozen server (after SIGCONT too), only the hidden temp file; the
run ends in bounded time with exit code 1. The next run's rotation deletes the temp file.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.testing.cli import CORRAL, corral, local_storage, write_main
from corral.testing.storage_contract import wait_for_partial
from corral_testservers import start_nfs, start_smb, start_webdav
from corral_testservers.faults import frozen

NOW = "2026-03-01T03:00:00"
NAME = "site_2026-03-01_03-00-00.tar.gz"
NEXT = "2026-03-02T03:00:00"
TIMEOUT, RETRIES = 2, 1


@contextlib.contextmanager
def _smb(tmp: Path) -> Iterator[tuple[dict[str, Any], int, Path]]:
    with start_smb(tmp) as server:
        yield ({"storage": "smb", "backup_dir": "/corral", "host": server.host, "port": server.port,
                "share": server.share, "user": server.user, "password": server.password},
               server.port, server.share_path)  # fmt: skip


@contextlib.contextmanager
def _nfs(tmp: Path) -> Iterator[tuple[dict[str, Any], int, Path]]:
    with start_nfs(tmp) as server:
        yield ({"storage": "nfs", "backup_dir": "/corral", "host": server.host, "port": server.port,
                "export": server.export, "reserved_port": False}, server.port, server.path)  # fmt: skip


@contextlib.contextmanager
def _webdav(tmp: Path) -> Iterator[tuple[dict[str, Any], int, Path]]:
    with start_webdav(tmp) as server:
        yield ({"storage": "webdav", "backup_dir": "/corral", "url": server.url, "user": server.user,
                "password": server.password}, server.port, server.root)  # fmt: skip


SERVERS: dict[str, Callable[[Path], contextlib.AbstractContextManager[tuple[dict[str, Any], int, Path]]]] = {
    "smb": _smb, "nfs": _nfs, "webdav": _webdav,
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_a_storage_frozen_mid_stream_drops_out_and_local_gets_the_archive(
    tmp_path: Path, server_tmp_path: Path, kind: str
) -> None:
    site = tmp_path / "www" / "site"
    site.mkdir(parents=True)
    for index in range(4):
        (site / f"blob{index}.bin").write_bytes(os.urandom(12_000_000))
    with SERVERS[kind](server_tmp_path) as (storage, port, disk):
        storage.update(timeout=TIMEOUT, retries=RETRIES)
        main = write_main(tmp_path, [{"job": "web", "type": "desc_files",
                                      "sources": [{"target": [str(site)], "gzip": True}],
                                      "storages": [local_storage(tmp_path / "local"), storage]}])  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")} | {"CORRAL_NOW": NOW}
        started = time.monotonic()
        run = subprocess.Popen([*CORRAL, "start", "--verbose", "-c", str(main)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
        try:
            wait_for_partial(disk / "corral")
            with frozen(port):
                stdout, stderr = run.communicate(timeout=120)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
        took = time.monotonic() - started
        time.sleep(1)  # the thawed server finishes what it had received
        on_server = sorted(p.name for p in (disk / "corral").rglob("*") if p.is_file())
        # the next night, with the server back: rotation deletes the temp file, the archive is stored
        again = corral("start", "-c", str(main), env={"CORRAL_NOW": NEXT})
        after = sorted(p.name for p in (disk / "corral" / "web" / "site").iterdir())

    assert run.returncode == 1, stderr
    assert took < 3 * TIMEOUT * (RETRIES + 1) + 30, f"the run took {took:.1f} s"
    assert stdout.startswith("FAILED: web (1 of 1 job(s))"), stdout
    local = tmp_path / "local" / "web" / "site" / NAME
    listing = subprocess.run(["tar", "-tzf", str(local)], capture_output=True, text=True, check=True).stdout
    assert sorted(listing.split()) == ["site/", *(f"site/blob{index}.bin" for index in range(4))]
    assert f"[web] storage local: stored `{local}`" in stderr, stderr
    [failed] = [line for line in stderr.splitlines() if f"storage {kind}: target site: upload failed: " in line]
    assert "[ERROR]" in failed, failed
    stray = [line for line in stderr.splitlines() if not re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[", line)]
    assert stray == [], stderr  # only corral's log lines: no library's traceback or warning on its own
    assert "Traceback" not in (tmp_path / "log" / "corral.log").read_text()
    assert NAME not in on_server, on_server  # nothing under the final name, after SIGCONT too
    assert [name for name in on_server if not name.startswith(f".{NAME}.partial-")] == [], on_server
    assert again.returncode == 0, again.stdout + again.stderr
    assert after == [NAME.replace("03-01", "03-02")], after
