"""The smb storage against a real Samba smbd: the storage contract, the share, auth and dead servers."""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import subprocess
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from corral.archive import RemoteFile
from corral.remote import is_transient
from corral.runner import Storage
from corral.storage_defaults import orphaned_upload
from corral.testing.storage_contract import (
    StorageContract,
    open_storage,
    raised,
    sparse_file,
    stored_modes,
    synced_before_rename,
    wait_for_partial,
)
from corral.testing.storage_contract import fresh_storage as fresh
from corral_testservers import SMBServer, start_smb
from corral_testservers.faults import blackhole, frozen, kill_connections, server_pids

NAME = "db/db_2026-01-01_00-00-00.sql.gz"


def entry(server: SMBServer, **extra: Any) -> dict[str, Any]:
    keys = {
        "storage": "smb", "backup_dir": "/corral/backups", "host": server.host, "port": server.port,
        "share": server.share, "user": server.user, "password": server.password,
    }  # fmt: skip
    keys.update(extra)
    return keys


def on_disk(server: SMBServer, remote: str) -> Path:
    """Where a path inside the share lives on the server."""
    return server.share_path / remote.lstrip("/")


class TestSMBStorage(StorageContract):
    streams = True

    @pytest.fixture
    def storage_entry(self, smb_server: SMBServer) -> dict[str, Any]:
        return entry(smb_server)


def test_backup_dir_is_a_folder_inside_the_share(smb_server: SMBServer, tmp_path: Path) -> None:
    storage = fresh(entry(smb_server))
    local = tmp_path / "a.bin"
    local.write_bytes(os.urandom(3_000_000))
    remote = posixpath.join(storage.root, NAME)
    storage.put(local, remote)
    assert remote.startswith("/corral/backups/job-")
    assert on_disk(smb_server, remote).read_bytes() == local.read_bytes()
    # Samba's own client sees it at the same place in the share
    listing = subprocess.run(
        ["smbclient", f"//{smb_server.host}/{smb_server.share}", "-p", str(smb_server.port), "-U", smb_server.user,
         "-c", f"ls {remote.replace('/', chr(92))}"],
        env={**os.environ, "PASSWD": smb_server.password}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listing.returncode == 0, listing.stderr
    assert "db_2026-01-01_00-00-00.sql.gz" in listing.stdout and "3000000" in listing.stdout


def test_wrong_password_is_one_clear_line_without_the_password(smb_server: SMBServer) -> None:
    fresh(entry(smb_server)).list()  # a logged-in storage in the same process must not lend its session
    wrong = "not-the-password-" + "x" * 12
    started = time.monotonic()
    with pytest.raises(PermissionError) as caught:
        open_storage(entry(smb_server, password=wrong, retries=3))
    message = str(caught.value)
    assert message == (
        f"smb://{smb_server.user}@{smb_server.host}:{smb_server.port}/{smb_server.share}: cannot connect: "
        f"authentication failed for user `{smb_server.user}` (check `user`, `password`, `domain`)"
    )
    assert wrong not in message
    assert time.monotonic() - started < 10, "an authentication failure must not be retried"


def test_unknown_share_is_named(smb_server: SMBServer) -> None:
    with pytest.raises(FileNotFoundError, match="cannot connect: the server has no share `nope`"):
        open_storage(entry(smb_server, share="nope"))


def test_server_that_never_answers_fails_within_the_timeout() -> None:
    with blackhole() as port:
        started = time.monotonic()
        with pytest.raises(TimeoutError) as caught:
            open_storage({"storage": "smb", "backup_dir": "/b", "host": "127.0.0.1", "port": port, "share": "s",
                          "user": "u", "password": "secret-pw", "timeout": 1, "retries": 1})
        elapsed = time.monotonic() - started
    assert "timed out" in str(caught.value) and "secret-pw" not in str(caught.value)
    assert elapsed < 2 * 1 + 1 + 3, f"took {elapsed:.1f} s"


def test_server_freezing_mid_upload_fails_the_upload_in_bounded_time(server_tmp_path: Path, tmp_path: Path) -> None:
    with start_smb(server_tmp_path) as server:
        storage = fresh(entry(server, timeout=2, retries=0))
        big = sparse_file(tmp_path / "big.tar", 512 * 2**20)
        remote = posixpath.join(storage.root, "big/big_2026-01-01_00-00-00.tar")
        outcome: dict[str, Any] = {}

        def upload() -> None:
            try:
                storage.put(big, remote)
            except Exception as exc:
                outcome["error"] = exc

        worker = threading.Thread(target=upload)
        worker.start()
        wait_for_partial(server.share_path)
        with frozen(server.port):
            frozen_at = time.monotonic()
            worker.join(timeout=40)
            hung_for = time.monotonic() - frozen_at
        worker.join(timeout=30)
        assert isinstance(outcome.get("error"), ConnectionError | TimeoutError), outcome
        assert hung_for < 15, f"the upload hung for {hung_for:.1f} s"
        assert not on_disk(server, remote).exists()


def test_lost_connection_mid_upload_is_retried_on_a_new_one(server_tmp_path: Path, tmp_path: Path) -> None:
    with start_smb(server_tmp_path) as server:
        storage = fresh(entry(server, timeout=5, retries=2))
        big = sparse_file(tmp_path / "big.tar", 512 * 2**20)
        remote = posixpath.join(storage.root, "big/big_2026-01-01_00-00-00.tar")
        worker = threading.Thread(target=storage.put, args=(big, remote))
        worker.start()
        wait_for_partial(server.share_path)
        assert kill_connections(server.port), "no connection to kill"
        worker.join(timeout=120)
        assert not worker.is_alive()
        assert on_disk(server, remote).stat().st_size == big.stat().st_size
        assert [f.path for f in storage.list()] == [remote]


def test_orphaned_temp_files_are_listed_so_rotation_can_delete_them(smb_server: SMBServer) -> None:
    storage = fresh(entry(smb_server))
    orphan = posixpath.join(storage.root, "db/.db_2026-01-01_00-00-00.sql.gz.partial-0a1b2c3d")
    storage.fs.makedirs(posixpath.dirname(orphan), exist_ok=True)
    with storage.fs.open(orphan, "wb") as half_written:
        half_written.write(b"half")
    listed = storage.list()
    assert [(posixpath.basename(f.path), f.size) for f in listed] == [(posixpath.basename(orphan), 4)]
    storage.delete(listed[0].path)
    assert storage.list() == []


def test_modes_are_the_shares_whatever_the_storage_entry_asks(smb_server: SMBServer, tmp_path: Path) -> None:
    """smbprotocol has no SMB3 POSIX extensions: Samba's `create mask` (0644 on this share) and `directory mask`
    (0755, Samba's default) decide, not `file_mode`/`dir_mode` (documented in the README)."""
    modes = stored_modes(entry(smb_server, file_mode="0600", dir_mode="0700"), partial(on_disk, smb_server), tmp_path)
    assert (modes["archive"], modes["target folder"], modes["job folder"]) == ("0644", "0755", "0755")


def test_the_upload_is_fsynced_on_the_server_before_the_rename(smb_server: SMBServer, tmp_path: Path) -> None:
    """`strace` on the real smbd: the SMB2 FLUSH at the end of the upload makes Samba fsync (`strict sync`)."""
    synced_before_rename(fresh(entry(smb_server)), server_pids(smb_server.port), tmp_path)


def test_every_error_of_a_killed_session_is_retried_and_refusals_are_not(server_tmp_path: Path) -> None:
    """The race behind the flaky kill test, made deterministic with the real smbprotocol and smbd.

    smbprotocol's reader thread sees the reset and closes the socket; a write that passed smbprotocol's own
    "still connected?" check before that then sends on the closed socket: `OSError: [Errno 9] Bad file
    descriptor`, which was not retried. A request that starts later on that connection gets `SMBConnectionClosed`.
    """
    with start_smb(server_tmp_path) as server:
        storage = fresh(entry(server))
        fs = storage.fs.inner
        (server.share_path / "root-only").mkdir(mode=0o700)  # root's, not the share user's
        missing, denied = raised(lambda: fs.info("/nothing-here")), raised(lambda: fs.ls("/root-only"))
        assert isinstance(storage.fs.clean(missing, "look up"), FileNotFoundError)
        assert isinstance(storage.fs.clean(denied, "list"), PermissionError)
        assert not is_transient(storage.fs.clean(missing, "look up")) and not is_transient(storage.fs.clean(denied, ""))
        connection = next(iter(fs._connections.values()))
        assert kill_connections(server.port), "no connection to kill"
        deadline = time.monotonic() + 10
        while connection.transport.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        racing_send = raised(lambda: connection.transport.send(b"\0" * 64))  # smbprotocol's send, after its check
        assert isinstance(racing_send, OSError) and racing_send.errno == errno.EBADF, racing_send
        later_request = raised(connection.echo)
        for exc in (racing_send, later_request):
            assert is_transient(storage.fs.clean(exc, "upload to")), f"{type(exc).__name__}: {exc}"


def _stream_into_a_fault(server: SMBServer, fault: Callable[[], object]) -> tuple[OSError, float, Storage, str]:
    """Open a stream, let 1 MiB land, apply ``fault`` to the server, write on and commit: the error, the seconds
    from the fault to the end of the abort, the storage and the stream's remote path."""
    storage = fresh(entry(server, timeout=2, retries=0))
    remote = posixpath.join(storage.root, "big/big_2026-01-01_00-00-00.tar")
    upload = storage.open_upload(remote)
    assert upload is not None
    upload.write(os.urandom(1 << 20))
    wait_for_partial(server.share_path)
    fault()
    started = time.monotonic()
    with pytest.raises(OSError) as failed:
        for _ in range(256):  # far more than the sockets' buffers hold
            upload.write(bytes(1 << 20))
        upload.commit(257 << 20)
    upload.abort(failed.value)
    return failed.value, time.monotonic() - started, storage, remote


@pytest.mark.parametrize("fault", ["frozen", "killed"])
def test_server_failing_mid_stream_fails_the_stream_in_bounded_time(server_tmp_path: Path, fault: str) -> None:
    """A stream to a frozen (SIGSTOP) or killed smbd fails within the timeout, in one line; its temp file is the
    hidden name rotation deletes, and nothing is ever under the final name (after SIGCONT either)."""
    with start_smb(server_tmp_path) as server, contextlib.ExitStack() as thaw:
        error, took, storage, remote = _stream_into_a_fault(
            server, partial(thaw.enter_context, frozen(server.port)) if fault == "frozen"
            else partial(kill_connections, server.port),
        )  # fmt: skip
        thaw.close()
        assert is_transient(error) and "\n" not in str(error), error
        assert str(error).startswith(f"smb://{server.user}@{server.host}:{server.port}/{server.share}: cannot "), error
        assert took < 2 * 3 + 10, f"the stream took {took:.1f} s to fail"
        time.sleep(1)  # a thawed server finishes what it had received
        assert not on_disk(server, remote).exists()
        [left] = on_disk(server, posixpath.dirname(remote)).iterdir()
        temp = RemoteFile(posixpath.join(posixpath.dirname(remote), left.name), left.stat().st_size)
        assert orphaned_upload(temp, storage.root, ("tar",)), left.name  # the next run's rotation deletes it



def test_server_pausing_mid_stream_within_the_timeout_slows_the_stream_and_loses_nothing(
    server_tmp_path: Path,
) -> None:
    """smbd frozen for 4 s of its 6 s timeout in the middle of a stream: the writes wait, then go on; the archive
    lands whole under its final name."""
    with start_smb(server_tmp_path) as server, contextlib.ExitStack() as thaw:
        storage = fresh(entry(server, timeout=6, retries=0))
        remote = posixpath.join(storage.root, "big/big_2026-01-01_00-00-00.tar")
        upload = storage.open_upload(remote)
        assert upload is not None
        chunks = [os.urandom(1 << 20) for _ in range(48)]
        upload.write(chunks[0])
        wait_for_partial(server.share_path)
        thaw.enter_context(frozen(server.port))
        timer = threading.Timer(4, thaw.close)
        timer.start()
        started = time.monotonic()
        for chunk in chunks[1:]:  # far more than the sockets' buffers hold: they wait for the thaw
            upload.write(chunk)
        upload.commit(48 << 20)
        assert time.monotonic() - started > 3.5, "the server was not frozen while the stream was written"
        timer.join()
        assert on_disk(server, remote).read_bytes() == b"".join(chunks)
