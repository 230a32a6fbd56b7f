"""The webdav storage against a real wsgidav: the storage contract, MOVE, auth, TLS and dead servers."""

from __future__ import annotations

import contextlib
import os
import posixpath
import secrets
import threading
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from corral.remote import is_transient
from corral.testing.storage_contract import (
    StorageContract,
    only_an_orphaned_upload_left,
    open_storage,
    orphaned_temp_file_is_listed_and_deleted,
    paused,
    raised,
    sparse_file,
    storage_config,
    stream_through_a_fault,
    stream_through_a_pause,
    unanswered_within,
    upload_through_a_cut,
    upload_through_a_fault,
    wait_for_partial,
    wrong_password_refused,
)
from corral.testing.storage_contract import fresh_storage as fresh
from corral_storage_webdav.filesystem import BackupWebdavFileSystem
from corral_testservers import WebDAVServer, start_webdav
from corral_testservers.faults import blackhole, frozen, kill, tcp_proxy

NAME = "db/db_2026-01-01_00-00-00.sql.gz"
BIG = "big/big_2026-01-01_00-00-00.tar"


def entry(server: WebDAVServer, **extra: Any) -> dict[str, Any]:
    keys = {"storage": "webdav", "backup_dir": "/backups", "url": server.url, "user": server.user,
            "password": server.password}  # fmt: skip
    keys.update(extra)
    return {k: v for k, v in keys.items() if v is not None}


def on_disk(server: WebDAVServer, remote: str) -> Path:
    return server.root / remote.lstrip("/")


class TestWebDAVStorage(StorageContract):
    streams = True  # one chunked PUT fed as the bytes come

    @pytest.fixture
    def storage_entry(self, webdav_server: WebDAVServer) -> dict[str, Any]:
        return entry(webdav_server)


class TestWebDAVStorageByHostAndPort(StorageContract):
    streams = True

    @pytest.fixture
    def storage_entry(self, webdav_server: WebDAVServer) -> dict[str, Any]:
        return entry(webdav_server, url=None, host=webdav_server.host, port=webdav_server.port, https=False)


def test_stored_file_is_byte_identical_and_served_by_plain_http_get(webdav_server: WebDAVServer,
                                                                     tmp_path: Path) -> None:
    storage = fresh(entry(webdav_server))
    local = tmp_path / "a.bin"
    local.write_bytes(os.urandom(3_000_000))
    remote = posixpath.join(storage.root, NAME)
    storage.put(local, remote)
    assert on_disk(webdav_server, remote).read_bytes() == local.read_bytes()
    got = httpx.get(webdav_server.url.rstrip("/") + remote, auth=webdav_server.auth, timeout=30)
    assert got.status_code == 200 and got.content == local.read_bytes()
    assert [p.name for p in on_disk(webdav_server, storage.root).rglob("*") if p.is_file()] == [
        posixpath.basename(NAME)
    ]


def test_wrong_password_is_one_clear_line_without_the_password(webdav_server: WebDAVServer) -> None:
    fresh(entry(webdav_server)).list()  # a logged-in storage in the same process must not lend its client
    assert wrong_password_refused(entry(webdav_server)) == (
        f"{webdav_server.url} (user {webdav_server.user}): cannot connect: authentication failed "
        f"(user `{webdav_server.user}`; 401 Unauthorized)"
    )


def test_url_or_host_and_no_credentials_in_the_url(webdav_server: WebDAVServer) -> None:
    with pytest.raises(ValidationError, match="give either `url` or `host`"):
        storage_config(entry(webdav_server, host="127.0.0.1"))
    with pytest.raises(ValidationError, match="must not contain credentials"):
        storage_config(entry(webdav_server, url=f"http://u:secret@127.0.0.1:{webdav_server.port}/"))


def test_server_that_never_answers_fails_within_the_timeout() -> None:
    with blackhole() as port:
        unanswered_within({"storage": "webdav", "backup_dir": "/b", "url": f"http://127.0.0.1:{port}/", "user": "u"},
                          2 * 1 + 1 + 2)  # fmt: skip


def test_server_freezing_mid_upload_fails_the_upload_in_bounded_time(server_tmp_path: Path, tmp_path: Path) -> None:
    with start_webdav(server_tmp_path) as server:
        storage = fresh(entry(server, timeout=2, retries=0))
        big = sparse_file(tmp_path / "big.tar", 512 * 2**20)
        remote = posixpath.join(storage.root, BIG)
        error, hung_for = upload_through_a_fault(storage, big, remote, frozen(server.port), server.root)
        assert isinstance(error, ConnectionError | TimeoutError), error
        assert hung_for < 10, f"the upload hung for {hung_for:.1f} s"
        assert not on_disk(server, remote).exists()


def test_lost_connection_mid_upload_is_retried_on_a_new_one(webdav_server: WebDAVServer, tmp_path: Path) -> None:
    with tcp_proxy(webdav_server.port) as proxy:
        storage = fresh(entry(webdav_server, url=f"http://127.0.0.1:{proxy.port}/", timeout=5, retries=2))
        big = sparse_file(tmp_path / "big.tar", 256 * 2**20)
        upload_through_a_cut(storage, big, posixpath.join(storage.root, BIG), proxy.cut,
                             partial(on_disk, webdav_server), on_disk(webdav_server, storage.root))  # fmt: skip


@pytest.fixture(scope="module")
def webdavs_server(corral_servers_root: Path) -> Any:
    with start_webdav(corral_servers_root, tls=True) as server:
        yield server


class TestWebDAVOverHTTPS(StorageContract):
    streams = True

    @pytest.fixture
    def storage_entry(self, webdavs_server: WebDAVServer) -> dict[str, Any]:
        return entry(webdavs_server, ca_file=str(webdavs_server.ca_file))


def test_https_refuses_an_untrusted_certificate_unless_told_not_to_check(webdavs_server: WebDAVServer) -> None:
    untrusted = r"TLS certificate not trusted \(self.signed certificate\); set `ca_file`"
    with pytest.raises(PermissionError, match=untrusted):
        open_storage(entry(webdavs_server))
    assert fresh(entry(webdavs_server, verify=False)).list() == []


def test_orphaned_temp_files_are_listed_so_rotation_can_delete_them(webdav_server: WebDAVServer) -> None:
    orphaned_temp_file_is_listed_and_deleted(fresh(entry(webdav_server)))


def test_every_error_of_a_cut_connection_is_retried_and_refusals_are_not(
    webdav_server: WebDAVServer, tmp_path: Path
) -> None:
    """Real httpx/webdav4 errors from a real wsgidav: a connection cut mid-upload is retried, a refusal is not."""
    wrong = storage_config(entry(webdav_server, password="not-the-password")).options
    unauthorized = raised(lambda: BackupWebdavFileSystem(wrong))
    with tcp_proxy(webdav_server.port) as proxy:
        storage = fresh(entry(webdav_server, url=f"http://127.0.0.1:{proxy.port}/", timeout=5, retries=0))
        fs = storage.fs.inner
        missing = raised(lambda: fs.info("/nothing-here"))
        assert isinstance(storage.fs.clean(unauthorized, "connect"), PermissionError)
        assert isinstance(storage.fs.clean(missing, "look up"), FileNotFoundError)
        assert not any(is_transient(storage.fs.clean(exc, "")) for exc in (unauthorized, missing))
        big = sparse_file(tmp_path / "big.tar", 256 * 2**20)
        folder = f"/cut-{secrets.token_hex(4)}"
        fs.makedirs(folder, exist_ok=True)
        outcome: list[Exception] = []
        upload = partial(fs.put_file, str(big), f"{folder}/.big.tar.partial-0a1b2c3d")
        worker = threading.Thread(target=lambda: outcome.append(raised(upload)))
        worker.start()
        wait_for_partial(on_disk(webdav_server, folder))
        assert proxy.cut(), "no connection to cut"
        worker.join(timeout=60)
        assert outcome and is_transient(storage.fs.clean(outcome[0], "upload to")), outcome


@pytest.mark.parametrize("fault", ["frozen", "killed"])
def test_server_failing_mid_stream_fails_the_stream_in_bounded_time(server_tmp_path: Path, fault: str) -> None:
    """A stream (one chunked PUT) to a frozen (SIGSTOP) or killed wsgidav fails within the timeout, in one line;
    its temp file is the hidden name rotation deletes, and nothing is ever under the final name (after SIGCONT
    either)."""
    timeout = 2
    with start_webdav(server_tmp_path) as server, contextlib.ExitStack() as thaw:
        storage = fresh(entry(server, timeout=timeout, retries=0))
        remote = posixpath.join(storage.root, BIG)
        error, failed_in, aborted_in = stream_through_a_fault(
            storage, remote, partial(thaw.enter_context, frozen(server.port)) if fault == "frozen"
            else partial(kill, server.port), server.root,
        )  # fmt: skip
        thaw.close()
        assert is_transient(error) and "\n" not in str(error), error
        assert str(error).startswith(f"{server.url} (user {server.user}): cannot upload to `"), error
        assert failed_in < timeout * 3 + 10, f"the stream took {failed_in:.1f} s to fail"
        assert aborted_in < timeout, f"giving the stream up took {aborted_in:.1f} s"
        only_an_orphaned_upload_left(storage, remote, partial(on_disk, server))


def test_server_pausing_mid_stream_within_the_timeout_slows_the_stream_and_loses_nothing(
    server_tmp_path: Path,
) -> None:
    """wsgidav frozen for 4 s of its 6 s timeout in the middle of a stream (one chunked PUT): the writes wait,
    then go on; the archive lands whole under its final name."""
    with start_webdav(server_tmp_path) as server:
        storage = fresh(entry(server, timeout=6, retries=0))
        remote = posixpath.join(storage.root, BIG)
        sent, took = stream_through_a_pause(storage, remote, paused(frozen(server.port), 4), server.root)
        assert took > 3.5, "the server was not frozen while the stream was written"
        assert on_disk(server, remote).read_bytes() == sent
