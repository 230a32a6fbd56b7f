"""What goes wrong with NFS, against real servers and sockets: clear errors, bounded time, nothing half-stored.

The fault tests freeze a private nfs-ganesha with SIGSTOP (a server that hangs, the classic NFS failure) and
thaw it with SIGCONT.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from corral import StorageError
from corral.archive import parse_backup
from corral.remote import is_transient
from corral.runner import Storage
from corral.testing.storage_contract import (
    MiB,
    only_an_orphaned_upload_left,
    open_storage,
    stream_through_a_fault,
    stream_through_a_pause,
)
from corral_testservers import NFSServer, start_nfs

EntryFor = Callable[..., dict[str, Any]]


def fresh(entry: dict[str, Any], job: str = "job") -> Storage:
    return open_storage(entry, job_name=job)


@pytest.fixture
def private_nfs(server_tmp_path: Path) -> Iterator[NFSServer]:
    """A server of this test's own, which it may freeze."""
    with start_nfs(server_tmp_path) as server:
        yield server


@contextlib.contextmanager
def frozen(server: NFSServer, seconds: float | None = None) -> Iterator[None]:
    """SIGSTOP the server (for ``seconds`` in the background, else until the block ends)."""
    pid = int((server.path.parent / "ganesha.pid").read_text())
    os.kill(pid, signal.SIGSTOP)
    thaw = threading.Timer(seconds, os.kill, (pid, signal.SIGCONT)) if seconds else None
    if thaw:
        thaw.start()
    try:
        yield
    finally:
        if thaw:
            thaw.join()
        os.kill(pid, signal.SIGCONT)


def test_closed_port_is_a_clear_error_at_once(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(StorageError) as failed:
        open_storage({"storage": "nfs", "backup_dir": "/b", "host": "127.0.0.1", "port": port, "export": "/export"})
    assert time.monotonic() - started < 5
    assert str(failed.value).startswith(f"cannot mount `/export` from NFS server 127.0.0.1:{port} (NFSv4.1): ")
    assert "refused" in str(failed.value).lower() and "\n" not in str(failed.value)


def test_hung_server_fails_within_the_timeout() -> None:
    """A port that accepts connections and never answers: the mount gives up after ``timeout``."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        accepted: list[socket.socket] = []
        threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
        started = time.monotonic()
        with pytest.raises(StorageError, match=r"NFS server 127\.0\.0\.1:\d+ \(NFSv4\.1\): no answer within 2 s"):
            open_storage({"storage": "nfs", "backup_dir": "/b", "host": "127.0.0.1",
                          "port": listener.getsockname()[1], "export": "/export", "timeout": 2})  # fmt: skip
        assert time.monotonic() - started < 6
        for sock in accepted:
            sock.close()


def test_unknown_export_is_named(nfs_server: NFSServer, entry_for: EntryFor) -> None:
    with pytest.raises(StorageError, match=r"cannot mount `/no-such-export` from NFS server .*: .*no such file"):
        open_storage(entry_for(nfs_server, export="/no-such-export"))


def test_server_frozen_for_longer_than_the_timeout_is_retried_and_the_upload_completes(
    private_nfs: NFSServer, entry_for: EntryFor, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = fresh(entry_for(private_nfs, timeout=1, retries=3))
    local = tmp_path / "db.sql.gz"
    local.write_bytes(os.urandom(30 * MiB))
    remote = f"{storage.root}/db/db_2026-01-01_00-00-00.sql.gz"
    with frozen(private_nfs, seconds=2.5):
        storage.put(local, remote)
    assert any("failed (no answer within 1 s); retrying" in r.getMessage() for r in caplog.records)
    on_server = private_nfs.path / remote.lstrip("/")
    assert on_server.read_bytes() == local.read_bytes()
    assert [p.name for p in on_server.parent.iterdir()] == [on_server.name]  # no temp file left


def test_server_that_stays_frozen_fails_in_bounded_time_and_stores_nothing(
    private_nfs: NFSServer, entry_for: EntryFor, tmp_path: Path
) -> None:
    storage = fresh(entry_for(private_nfs, timeout=1, retries=1))
    local = tmp_path / "site.tar"
    local.write_bytes(os.urandom(4 * MiB))
    remote = f"{storage.root}/site/site_2026-01-01_00-00-00.tar"
    with frozen(private_nfs):
        started = time.monotonic()
        with pytest.raises(OSError) as failed:
            storage.put(local, remote)
        elapsed = time.monotonic() - started
    assert elapsed < 12, elapsed  # (1 + 1 retry) x 1 s per step, not forever
    assert f"NFS server {private_nfs.host}:{private_nfs.port} did not answer" in str(failed.value)
    assert not (private_nfs.path / remote.lstrip("/")).exists()
    assert [b for b in (parse_backup(f) for f in storage.list()) if b] == []


def test_writing_as_a_user_without_rights_is_a_clear_permission_error(
    nfs_server: NFSServer, entry_for: EntryFor, tmp_path: Path
) -> None:
    root_owned = nfs_server.path / "root-only"
    root_owned.mkdir(mode=0o755, exist_ok=True)
    storage = open_storage(entry_for(nfs_server, backup_dir="/root-only", uid=4321, gid=4321))
    local = tmp_path / "a.tar"
    local.write_bytes(b"x" * 1000)
    with pytest.raises(PermissionError) as failed:
        storage.put(local, f"{storage.root}/a/a_2026-01-01_00-00-00.tar")
    assert "refused" in str(failed.value) and "uid 4321" in str(failed.value)
    assert list(root_owned.iterdir()) == []


def test_upload_streams_with_bounded_memory(nfs_server: NFSServer, entry_for: EntryFor, tmp_path: Path) -> None:
    """A 200 MiB archive goes up in 8 MiB chunks: the uploading process stays far below the file's size."""
    import json
    import subprocess
    import sys

    local = tmp_path / "big.tar"
    with local.open("wb") as out:
        for _ in range(200):
            out.write(os.urandom(MiB))
    entry = entry_for(nfs_server, backup_dir="/memory")
    code = (
        "import json, sys; from pathlib import Path\n"
        "from corral.testing.storage_contract import open_storage\n"
        "s = open_storage(json.loads(sys.argv[1]))\n"
        "s.put(Path(sys.argv[2]), s.root + '/big/big_2026-01-01_00-00-00.tar')\n"
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n"
    )
    done = subprocess.run([sys.executable, "-c", code, json.dumps(entry), str(local)], capture_output=True,
                          text=True, check=True)  # fmt: skip
    peak_mb = int(done.stdout.strip()) / 1024
    assert peak_mb < 150, peak_mb
    stored = nfs_server.path / "memory" / "contract" / "big" / "big_2026-01-01_00-00-00.tar"
    assert stored.stat().st_size == local.stat().st_size
    with stored.open("rb") as theirs, local.open("rb") as ours:
        while chunk := ours.read(MiB):
            assert theirs.read(MiB) == chunk


def on_disk(server: NFSServer, remote: str) -> Path:
    return server.path / remote.lstrip("/")


@pytest.mark.parametrize("fault", ["frozen", "killed"])
def test_server_failing_mid_stream_fails_the_stream_in_bounded_time(
    private_nfs: NFSServer, entry_for: EntryFor, fault: str
) -> None:
    """A stream to a frozen (SIGSTOP) or killed nfs-ganesha fails within the timeout, in one line, never retried
    (its bytes cannot be sent twice); giving it up and closing the storage send nothing more (no flush, no CLOSE,
    no client close: each would wait the timeout again). Its temp file is the hidden name rotation deletes; nothing
    is ever under the final name."""
    timeout = 2
    storage = fresh(entry_for(private_nfs, timeout=timeout, retries=2))
    remote = f"{storage.root}/site/site_2026-01-01_00-00-00.tar"
    with contextlib.ExitStack() as thaw:
        pid = int((private_nfs.path.parent / "ganesha.pid").read_text())
        error, failed_in, aborted_in = stream_through_a_fault(
            storage, remote, partial(thaw.enter_context, frozen(private_nfs)) if fault == "frozen"
            else partial(os.kill, pid, signal.SIGKILL), private_nfs.path,
            first=9 * MiB, then=64,  # past the 8 MiB buffer: bytes reach the server's disk
            give_up=storage.close,  # as the job does at its end
        )  # fmt: skip
    assert is_transient(error) and "\n" not in str(error), error
    assert f"NFS server {private_nfs.host}:{private_nfs.port} did not answer write" in str(error)
    assert failed_in < timeout * 3 + 10, f"the stream took {failed_in:.1f} s to fail"
    assert aborted_in < timeout, f"giving the stream up and closing the storage took {aborted_in:.1f} s"
    only_an_orphaned_upload_left(storage, remote, partial(on_disk, private_nfs))


def test_server_pausing_mid_stream_within_the_timeout_slows_the_stream_and_loses_nothing(
    private_nfs: NFSServer, entry_for: EntryFor
) -> None:
    """nfs-ganesha frozen for 4 s of its 6 s timeout in the middle of a stream: the writes wait, then go on; the
    archive lands whole under its final name."""
    storage = fresh(entry_for(private_nfs, timeout=6, retries=0))
    remote = f"{storage.root}/site/site_2026-01-01_00-00-00.tar"
    sent, took = stream_through_a_pause(  # past the 8 MiB buffer before the pause: bytes reach the server's disk
        storage, remote, frozen(private_nfs, seconds=4), private_nfs.path, before=9
    )
    assert took > 3.5, "the server was not frozen while the stream was written"
    assert on_disk(private_nfs, remote).read_bytes() == sent
