"""The smb storage against a real Samba smbd: the storage contract, the share, auth and dead servers."""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import subprocess
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from corral.remote import is_transient
from corral.testing.storage_contract import (
    StorageContract,
    only_an_orphaned_upload_left,
    open_storage,
    orphaned_temp_file_is_listed_and_deleted,
    paused,
    raised,
    sparse_file,
    stored_modes,
    stream_through_a_fault,
    stream_through_a_pause,
    synced_before_rename,
    unanswered_within,
    upload_through_a_cut,
    upload_through_a_fault,
    wrong_password_refused,
)
from corral.testing.storage_contract import fresh_storage as fresh
from corral_testservers import SMBServer, start_smb
from corral_testservers.faults import blackhole, frozen, kill_connections, server_pids

NAME = "db/db_2026-01-01_00-00-00.sql.gz"
BIG = "big/big_2026-01-01_00-00-00.tar"


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
    assert wrong_password_refused(entry(smb_server)) == (
        f"smb://{smb_server.user}@{smb_server.host}:{smb_server.port}/{smb_server.share}: cannot connect: "
        f"authentication failed for user `{smb_server.user}` (check `user`, `password`, `domain`)"
    )


def test_unknown_share_is_named(smb_server: SMBServer) -> None:
    with pytest.raises(FileNotFoundError, match="cannot connect: the server has no share `nope`"):
        open_storage(entry(smb_server, share="nope"))


def test_server_that_never_answers_fails_within_the_timeout() -> None:
    with blackhole() as port:
        unanswered_within({"storage": "smb", "backup_dir": "/b", "host": "127.0.0.1", "port": port, "share": "s",
                           "user": "u"}, 2 * 1 + 1 + 3)  # fmt: skip


def test_server_freezing_mid_upload_fails_the_upload_in_bounded_time(server_tmp_path: Path, tmp_path: Path) -> None:
    with start_smb(server_tmp_path) as server:
        storage = fresh(entry(server, timeout=2, retries=0))
        big = sparse_file(tmp_path / "big.tar", 512 * 2**20)
        remote = posixpath.join(storage.root, BIG)
        error, hung_for = upload_through_a_fault(storage, big, remote, frozen(server.port), server.share_path, 40)
        assert isinstance(error, ConnectionError | TimeoutError), error
        assert hung_for < 15, f"the upload hung for {hung_for:.1f} s"
        assert not on_disk(server, remote).exists()


def test_lost_connection_mid_upload_is_retried_on_a_new_one(server_tmp_path: Path, tmp_path: Path) -> None:
    with start_smb(server_tmp_path) as server:
        storage = fresh(entry(server, timeout=5, retries=2))
        big = sparse_file(tmp_path / "big.tar", 512 * 2**20)
        upload_through_a_cut(storage, big, posixpath.join(storage.root, BIG), partial(kill_connections, server.port),
                             partial(on_disk, server), server.share_path)  # fmt: skip


def test_orphaned_temp_files_are_listed_so_rotation_can_delete_them(smb_server: SMBServer) -> None:
    orphaned_temp_file_is_listed_and_deleted(fresh(entry(smb_server)))


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


@pytest.mark.parametrize("fault", ["frozen", "killed"])
def test_server_failing_mid_stream_fails_the_stream_in_bounded_time(server_tmp_path: Path, fault: str) -> None:
    """A stream to a frozen (SIGSTOP) or killed smbd fails within the timeout, in one line; its temp file is the
    hidden name rotation deletes, and nothing is ever under the final name (after SIGCONT either)."""
    with start_smb(server_tmp_path) as server, contextlib.ExitStack() as thaw:
        storage = fresh(entry(server, timeout=2, retries=0))
        remote = posixpath.join(storage.root, BIG)
        error, failed_in, gave_up_in = stream_through_a_fault(
            storage, remote, partial(thaw.enter_context, frozen(server.port)) if fault == "frozen"
            else partial(kill_connections, server.port), server.share_path,
        )  # fmt: skip
        thaw.close()
        assert is_transient(error) and "\n" not in str(error), error
        assert str(error).startswith(f"smb://{server.user}@{server.host}:{server.port}/{server.share}: cannot "), error
        took = failed_in + gave_up_in
        assert took < 2 * 3 + 10, f"the stream took {took:.1f} s to fail"
        only_an_orphaned_upload_left(storage, remote, partial(on_disk, server))


def test_server_pausing_mid_stream_within_the_timeout_slows_the_stream_and_loses_nothing(
    server_tmp_path: Path,
) -> None:
    """smbd frozen for 4 s of its 6 s timeout in the middle of a stream: the writes wait, then go on; the archive
    lands whole under its final name."""
    with start_smb(server_tmp_path) as server:
        storage = fresh(entry(server, timeout=6, retries=0))
        remote = posixpath.join(storage.root, BIG)
        sent, took = stream_through_a_pause(storage, remote, paused(frozen(server.port), 4), server.share_path)
        assert took > 3.5, "the server was not frozen while the stream was written"
        assert on_disk(server, remote).read_bytes() == sent
