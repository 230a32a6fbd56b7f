"""The ftp storage against a real vsftpd: the storage contract, auth, hidden temp files and dead servers."""

from __future__ import annotations

import contextlib
import ftplib
import io
import os
import posixpath
import secrets
import stat
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from corral.remote import is_transient
from corral.testing.storage_contract import (
    StorageContract,
    existing_folder,
    open_storage,
    raised,
    sparse_file,
    stored_modes,
    unanswered_within,
    upload_through_a_cut,
    upload_through_a_fault,
    wait_for_partial,
    wrong_password_refused,
)
from corral.testing.storage_contract import fresh_storage as fresh
from corral_testservers import FTPServer, start_ftp
from corral_testservers.faults import blackhole, frozen, kill_connections

NAME = "db/db_2026-01-01_00-00-00.sql.gz"
BIG = "big/big_2026-01-01_00-00-00.tar"


def entry(server: FTPServer, **extra: Any) -> dict[str, Any]:
    keys = {
        "storage": "ftp", "backup_dir": "/backups", "host": server.host, "port": server.port, "user": server.user,
        "password": server.password,
    }  # fmt: skip
    keys.update(extra)
    return keys


def on_disk(server: FTPServer, remote: str) -> Path:
    """Where a remote path lives in the server's (chrooted) home."""
    return server.root / remote.lstrip("/")


class TestFTPStorage(StorageContract):
    streams = True

    @pytest.fixture
    def storage_entry(self, ftp_server: FTPServer) -> dict[str, Any]:
        return entry(ftp_server)


def test_stored_file_is_byte_identical_and_the_temp_file_is_gone(ftp_server: FTPServer, tmp_path: Path) -> None:
    storage = fresh(entry(ftp_server))
    local = tmp_path / "a.bin"
    local.write_bytes(os.urandom(3_000_000))
    remote = posixpath.join(storage.root, NAME)
    storage.put(local, remote)
    assert on_disk(ftp_server, remote).read_bytes() == local.read_bytes()
    assert [p.name for p in on_disk(ftp_server, storage.root).rglob("*") if p.is_file()] == [posixpath.basename(NAME)]
    # and a plain FTP client (ftplib, as `curl ftp://` would) fetches the same bytes
    client = ftplib.FTP()
    client.connect(ftp_server.host, ftp_server.port, timeout=10)
    client.login(ftp_server.user, ftp_server.password)
    chunks: list[bytes] = []
    client.retrbinary(f"RETR {remote}", chunks.append)
    client.quit()
    assert b"".join(chunks) == local.read_bytes()


def test_orphaned_temp_files_are_listed_so_rotation_can_delete_them(ftp_server: FTPServer, tmp_path: Path) -> None:
    """vsftpd's plain LIST hides dot files; the storage lists with `LIST -a` so nothing is left behind forever."""
    storage = fresh(entry(ftp_server))
    remote = posixpath.join(storage.root, "db/.db_2026-01-01_00-00-00.sql.gz.partial-0a1b2c3d")
    client = ftplib.FTP()
    client.connect(ftp_server.host, ftp_server.port, timeout=10)
    client.login(ftp_server.user, ftp_server.password)
    for folder in ("/backups", storage.root, posixpath.dirname(remote)):
        with contextlib.suppress(ftplib.error_perm):
            client.mkd(folder)
    client.storbinary(f"STOR {remote}", io.BytesIO(b"half"))
    client.quit()
    orphan = on_disk(ftp_server, remote)
    listed = storage.list()
    assert [(posixpath.basename(f.path), f.size) for f in listed] == [(orphan.name, 4)]
    storage.delete(listed[0].path)
    assert not orphan.exists()


def test_wrong_password_is_one_clear_line_without_the_password(ftp_server: FTPServer) -> None:
    assert wrong_password_refused(entry(ftp_server)) == (
        f"ftp://{ftp_server.user}@{ftp_server.host}:{ftp_server.port}: cannot connect: authentication failed "
        f"for user `{ftp_server.user}` (530 Login incorrect.)"
    )


def test_server_that_never_answers_fails_within_the_timeout() -> None:
    with blackhole() as port:
        unanswered_within({"storage": "ftp", "backup_dir": "/b", "host": "127.0.0.1", "port": port, "user": "u"},
                          2 * 1 + 1 + 2)  # fmt: skip


def test_server_freezing_mid_upload_fails_the_upload_in_bounded_time(server_tmp_path: Path, tmp_path: Path) -> None:
    with start_ftp(server_tmp_path) as server:
        storage = fresh(entry(server, timeout=2, retries=0))
        big = sparse_file(tmp_path / "big.tar", 512 * 2**20)
        remote = posixpath.join(storage.root, BIG)
        error, hung_for = upload_through_a_fault(storage, big, remote, frozen(server.port), server.root / "backups")
        assert isinstance(error, ConnectionError | TimeoutError), error
        assert hung_for < 10, f"the upload hung for {hung_for:.1f} s"
        assert not on_disk(server, remote).exists()


def test_server_freezing_mid_stream_fails_the_stream_in_bounded_time(server_tmp_path: Path) -> None:
    """A stream's writes go straight to the data connection: a server that stops reading fails the write within
    the timeout (the leg drops out, the stream goes on for the others), and nothing is under the final name."""
    with start_ftp(server_tmp_path) as server:
        storage = fresh(entry(server, timeout=2, retries=0))
        remote = posixpath.join(storage.root, BIG)
        upload = storage.open_upload(remote)
        assert upload is not None
        upload.write(os.urandom(1 << 20))
        wait_for_partial(server.root / "backups")
        with frozen(server.port):
            frozen_at = time.monotonic()
            with pytest.raises(OSError) as failed:
                for _ in range(512):  # far more than the sockets' buffers hold
                    upload.write(bytes(1 << 20))
            hung_for = time.monotonic() - frozen_at
        assert is_transient(failed.value) and "cannot upload to" in str(failed.value), failed.value
        assert hung_for < 10, f"the stream hung for {hung_for:.1f} s"
        upload.abort(failed.value)
        assert not on_disk(server, remote).exists()


def test_stream_gets_its_mode_before_its_first_byte(ftp_server: FTPServer) -> None:
    storage = fresh(entry(ftp_server, file_mode="0o640"))
    remote = posixpath.join(storage.root, "site/site_2026-01-01_00-00-00.tar")
    upload = storage.open_upload(remote)
    assert upload is not None
    temp = wait_for_partial_or_empty(on_disk(ftp_server, remote).parent)
    assert stat.S_IMODE(temp.stat().st_mode) == 0o640 and temp.stat().st_size == 0
    upload.write(b"x" * 1000)
    upload.commit(1000)
    assert stat.S_IMODE(on_disk(ftp_server, remote).stat().st_mode) == 0o640


def wait_for_partial_or_empty(folder: Path) -> Path:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = list(folder.glob(".*.partial-*"))
        if found:
            return found[0]
        time.sleep(0.01)
    raise AssertionError(f"no temp file under {folder}")


def test_lost_connection_mid_upload_is_retried_on_a_new_one(server_tmp_path: Path, tmp_path: Path) -> None:
    with start_ftp(server_tmp_path) as server:
        storage = fresh(entry(server, timeout=5, retries=2))
        big = sparse_file(tmp_path / "big.tar", 512 * 2**20)
        upload_through_a_cut(storage, big, posixpath.join(storage.root, BIG), partial(kill_connections, server.port),
                             partial(on_disk, server), server.root / "backups")  # fmt: skip


@pytest.fixture(scope="module")
def ftps_server(corral_servers_root: Path) -> Any:
    """vsftpd requiring explicit FTPS with a self-signed certificate."""
    with start_ftp(corral_servers_root, tls=True) as server:
        yield server


class TestFTPSStorage(StorageContract):
    streams = True

    @pytest.fixture
    def storage_entry(self, ftps_server: FTPServer) -> dict[str, Any]:
        return entry(ftps_server, tls=True, ca_file=str(ftps_server.ca_file))


def test_ftps_refuses_an_untrusted_certificate_unless_told_not_to_check(ftps_server: FTPServer) -> None:
    with pytest.raises(PermissionError, match=r"TLS certificate of 127\.0\.0\.1 not trusted .*set `ca_file`"):
        open_storage(entry(ftps_server, tls=True))
    assert fresh(entry(ftps_server, tls=True, tls_verify=False)).list() == []


def test_plain_ftp_login_is_refused_by_an_ftps_only_server(ftps_server: FTPServer) -> None:
    with pytest.raises(PermissionError, match="authentication failed"):
        open_storage(entry(ftps_server))


@pytest.mark.parametrize(
    ("keys", "expected"),
    [({}, ("0600", "0700")), ({"file_mode": 0o640, "dir_mode": "0750"}, ("0640", "0750"))],
    ids=["default", "asked"],
)
def test_site_chmod_gives_the_storage_modes_and_existing_folders_keep_theirs(
    ftp_server: FTPServer, tmp_path: Path, keys: dict[str, Any], expected: tuple[str, str]
) -> None:
    kept = existing_folder(ftp_server.root / f"kept-{secrets.token_hex(4)}", owner=ftp_server.user)
    modes = stored_modes(entry(ftp_server, backup_dir=f"/{kept.name}", **keys), partial(on_disk, ftp_server), tmp_path)
    file_mode, dir_mode = expected
    assert modes == {"archive": file_mode, "target folder": dir_mode, "job folder": dir_mode, "backup_dir": "0751"}


def test_a_server_refusing_site_chmod_stores_anyway_and_says_so_once(
    server_tmp_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with start_ftp(server_tmp_path, settings=["chmod_enable=NO"]) as server:
        storage = fresh(entry(server))
        local = tmp_path / "a.bin"
        local.write_bytes(os.urandom(100_000))
        for name in ("a/a_2026-01-01_00-00-00.tar", "b/b_2026-01-01_00-00-00.tar"):
            storage.put(local, posixpath.join(storage.root, name))
            stored = on_disk(server, posixpath.join(storage.root, name))
            assert stored.read_bytes() == local.read_bytes()
            assert stat.S_IMODE(stored.stat().st_mode) == 0o644  # vsftpd's local_umask=022
    refusals = [r.getMessage() for r in caplog.records if "refused to set permissions" in r.getMessage()]
    assert refusals == [f"ftp://{server.user}@{server.host}:{server.port}: the server refused to set permissions "
                        "(500 Unknown SITE command.); files keep the server's own"]  # fmt: skip


def test_every_error_of_a_killed_session_is_retried_and_refusals_are_not(server_tmp_path: Path, tmp_path: Path) -> None:
    """Real ftplib errors from a real vsftpd: what a dead session raises is retried, a refusal is not."""
    with start_ftp(server_tmp_path) as server:
        storage = fresh(entry(server))
        fs = storage.fs.inner
        local = tmp_path / "a.bin"
        local.write_bytes(os.urandom(100_000))
        (server.root / "root-only").mkdir(mode=0o755)  # root's: the FTP user cannot write there
        denied = raised(lambda: fs.put_file(str(local), "/root-only/x"))
        missing = raised(lambda: fs.ftp.size("/nothing-here"))
        assert isinstance(storage.fs.clean(denied, "upload to"), PermissionError)
        assert isinstance(storage.fs.clean(missing, "look up"), FileNotFoundError)
        assert not any(is_transient(storage.fs.clean(exc, "")) for exc in (denied, missing))
        assert kill_connections(server.port), "no connection to kill"
        dead = [raised(lambda: fs.put_file(str(local), "/x")), raised(lambda: fs.ftp.voidcmd("NOOP"))]
        for exc in dead:
            assert is_transient(storage.fs.clean(exc, "upload to")), f"{type(exc).__name__}: {exc}"
