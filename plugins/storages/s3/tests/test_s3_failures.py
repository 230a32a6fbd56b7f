"""What goes wrong with S3, against the real SeaweedFS or a real socket: clear errors, bounded time, no leftovers.

Faults are real: wrong keys, a TCP proxy that cuts large requests, a local file that shrinks mid-upload, an
endpoint that accepts connections and never answers.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from corral import StorageError
from corral.runner import Storage
from corral.testing.storage_contract import open_storage
from corral_storage_s3 import BucketFileSystem
from corral_testservers import S3Server

MiB = 1024 * 1024
Entry = Callable[..., dict[str, Any]]


def fresh(entry: dict[str, Any]) -> Storage:
    """The storage of a job folder no other test uses."""
    return open_storage(entry, job_name=f"s3-{secrets.token_hex(4)}")


def skip_bucket_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Storages open without their bucket check: as if the key was revoked, or the server died, after the job
    opened them (what list and put then say; opening itself is tested with the check)."""
    monkeypatch.setattr(BucketFileSystem, "ensure_bucket", lambda self, create: False)


@pytest.fixture
def opened_before_the_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    skip_bucket_check(monkeypatch)


def count_requests(storage: Storage) -> Counter[str]:
    """Every HTTP attempt the storage's S3 client sends, by operation (retries included)."""
    sent: Counter[str] = Counter()
    client = storage.fs.fs.s3  # connects the client (no request yet)

    def before_send(event_name: str, **_: Any) -> None:
        sent[event_name.rsplit(".", 1)[-1]] += 1

    client.meta.events.register("before-send.s3", before_send)
    return sent


def dangling_uploads(s3_server: S3Server) -> list[str]:
    import botocore.session

    client = botocore.session.get_session().create_client("s3", **s3_server.client_kwargs())
    uploads = client.list_multipart_uploads(Bucket=s3_server.bucket).get("Uploads", [])
    return [u["Key"] for u in uploads]


def fetch(storage: Storage, remote: str, tmp_path: Path) -> bytes:
    """The stored bytes, through the plugin's get (what `corral restore` uses)."""
    local = tmp_path / f"fetched-{secrets.token_hex(4)}"
    storage.driver.hook.corral_storage_get(fs=storage.fs, remote_path=remote, local_path=local)
    return local.read_bytes()


def random_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def test_wrong_secret_is_one_clear_line_without_the_secret_and_not_retried(
    s3_entry: Entry, s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "Wr0ngSecretValue-" + "x" * 20
    started = time.monotonic()
    with pytest.raises(StorageError) as failed:  # opening the storage checks the bucket with the keys
        fresh(s3_entry(secret_access_key=wrong))
    assert time.monotonic() - started < 5, "an authentication failure must not be retried"
    assert str(failed.value) == (f"S3 at {s3_server.endpoint_url} rejected the credentials (SignatureDoesNotMatch): "
                                 "check `access_key_id` and `secret_access_key`")  # fmt: skip
    skip_bucket_check(monkeypatch)  # the key went wrong after the storage was opened
    storage = fresh(s3_entry(secret_access_key=wrong))
    sent = count_requests(storage)
    for attempt in (storage.list, lambda: storage.put(random_file(tmp_path / "a", 1000), f"{storage.root}/a/b")):
        with pytest.raises(StorageError) as failed:
            attempt()
        message = str(failed.value)
        assert "\n" not in message
        assert "rejected the credentials (SignatureDoesNotMatch)" in message
        assert "secret_access_key" in message
        assert wrong not in message and s3_server.secret_key not in message
    assert sum(sent.values()) == 2, sent  # one attempt each: an auth failure is never retried


def test_unknown_access_key_is_one_clear_line(s3_entry: Entry) -> None:
    with pytest.raises(StorageError, match=r"rejected the credentials \(InvalidAccessKeyId\)"):
        fresh(s3_entry(access_key_id="AKIANOSUCHKEY0000000"))


def test_missing_bucket_is_named(s3_entry: Entry, opened_before_the_failure: None) -> None:
    """A bucket deleted after the storage was opened (opening checks it: see test_s3_bucket.py)."""
    storage = fresh(s3_entry(bucket="no-such-bucket-here"))
    with pytest.raises(StorageError, match="bucket `no-such-bucket-here` does not exist"):
        storage.list()


def test_large_file_lands_as_multipart_with_the_right_bytes(
    s3_entry: Entry, s3_server: S3Server, tmp_path: Path
) -> None:
    local = random_file(tmp_path / "big.tar", 17 * MiB + 12345)  # 4 parts of 5 MiB, the last one short
    storage = fresh(s3_entry(max_concurrency=3))
    remote = posixpath.join(storage.root, "big", "big_2026-01-01_00-00-00.tar")
    sent = count_requests(storage)
    storage.put(local, remote)
    assert sent["UploadPart"] == 4 and sent["CompleteMultipartUpload"] == 1 and sent["PutObject"] == 0
    info = storage.fs.info(remote)
    assert info["size"] == local.stat().st_size
    assert info["ETag"].strip('"').endswith("-4")
    assert fetch(storage, remote, tmp_path) == local.read_bytes()
    # stored under the prefix as a plain S3 client sees it: bucket/backups/<job>/big/...
    key = remote.lstrip("/")
    import botocore.session

    client = botocore.session.get_session().create_client("s3", **s3_server.client_kwargs())
    assert client.head_object(Bucket=s3_server.bucket, Key=key)["ContentLength"] == local.stat().st_size


@pytest.mark.parametrize("size", [0, 5 * MiB], ids=["empty", "exactly one part"])
def test_small_file_is_one_put(s3_entry: Entry, tmp_path: Path, size: int) -> None:
    storage = fresh(s3_entry())
    sent = count_requests(storage)
    local = random_file(tmp_path / "s", size)
    storage.put(local, f"{storage.root}/s/s_2026-01-01_00-00-00.sql")
    assert dict(sent) == {"PutObject": 1}
    assert [f.size for f in storage.list()] == [size]
    assert fetch(storage, storage.list()[0].path, tmp_path) == local.read_bytes()


def test_file_that_shrinks_mid_upload_leaves_no_object_and_no_upload(
    s3_entry: Entry, s3_server: S3Server, tmp_path: Path
) -> None:
    local = random_file(tmp_path / "shrinks.tar", 20 * MiB)
    storage = fresh(s3_entry(max_concurrency=1))
    remote = f"{storage.root}/shrinks/shrinks_2026-01-01_00-00-00.tar"
    client = storage.fs.fs.s3

    def cut_file_once_sending(event_name: str, **_: Any) -> None:
        if event_name.endswith(".UploadPart"):
            os.truncate(local, 7 * MiB)  # a log rotation, a full disk... the archive is not what it was

    client.meta.events.register("before-send.s3", cut_file_once_sending)
    with pytest.raises(OSError, match="shrank"):
        storage.put(local, remote)
    assert not storage.fs.exists(remote)
    assert storage.list() == []
    assert not any(key.endswith(remote.lstrip("/")) for key in dangling_uploads(s3_server))


class CuttingProxy:
    """A TCP proxy to the real server that resets any connection once it carried ``limit`` bytes upstream.

    Requests smaller than ``limit`` (listings, create/complete/abort) pass; every part upload is cut mid-way.
    """

    def __init__(self, upstream: tuple[str, int], limit: int) -> None:
        self.upstream, self.limit = upstream, limit
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                server = socket.create_connection(self.upstream)
                threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
                threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, dest: socket.socket, upstream: bool) -> None:
        moved = 0
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                moved += len(data)
                if upstream and moved > self.limit:
                    self.cuts += 1
                    source.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    break
                dest.sendall(data)
        for sock in (source, dest):
            with contextlib.suppress(OSError):
                sock.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def cutting_proxy(s3_server: S3Server) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy((s3_server.host, s3_server.port), limit=2 * MiB)
    yield proxy
    proxy.close()


def test_network_that_breaks_uploads_is_retried_then_aborted_cleanly(
    s3_entry: Entry, s3_server: S3Server, cutting_proxy: CuttingProxy, tmp_path: Path
) -> None:
    local = random_file(tmp_path / "cut.tar", 12 * MiB)
    storage = fresh(s3_entry(endpoint_url=f"http://127.0.0.1:{cutting_proxy.port}", retries=2,
                             max_concurrency=1, timeout=10))  # fmt: skip
    remote = f"{storage.root}/cut/cut_2026-01-01_00-00-00.tar"
    sent = count_requests(storage)
    started = time.monotonic()
    with pytest.raises(StorageError, match="unreachable"):
        storage.put(local, remote)
    assert time.monotonic() - started < 30
    assert sent["UploadPart"] == 3  # the first part, tried once and retried twice
    assert sent["AbortMultipartUpload"] == 1 and sent["CompleteMultipartUpload"] == 0
    assert cutting_proxy.cuts >= 3
    assert not open_storage(s3_entry()).fs.exists(remote)
    assert not any(key.endswith(remote.lstrip("/")) for key in dangling_uploads(s3_server))


@pytest.fixture
def deaf_endpoint() -> Iterator[int]:
    """A port that accepts TCP connections and then neither reads nor answers: sends stall once buffers fill."""
    yield from _listener()


@pytest.fixture
def silent_endpoint() -> Iterator[int]:
    """A port that accepts TCP connections and never answers: a hung server, not a closed one."""
    yield from _listener()


def _listener() -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        with contextlib.suppress(OSError):
            while not stop.is_set():
                accepted.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()
    for sock in accepted:
        sock.close()


def test_hung_endpoint_fails_within_the_timeout(
    s3_entry: Entry, silent_endpoint: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hung = s3_entry(endpoint_url=f"http://127.0.0.1:{silent_endpoint}", timeout=1, retries=1)
    started = time.monotonic()
    with pytest.raises(StorageError) as failed:
        fresh(hung)
    assert time.monotonic() - started < 8
    assert "unreachable" in str(failed.value) and "timeout" in str(failed.value).lower()
    skip_bucket_check(monkeypatch)  # the server hung after the storage was opened
    storage = fresh(hung)
    sent = count_requests(storage)
    for attempt in (storage.list, lambda: storage.put(random_file(tmp_path / "a", 1000), f"{storage.root}/a/b")):
        sent.clear()
        started = time.monotonic()
        with pytest.raises(StorageError) as failed:
            attempt()
        elapsed = time.monotonic() - started
        assert elapsed < 8, elapsed  # 2 attempts x 1 s + backoff, not botocore's 60 s x 5 or s3fs's 5 on top
        assert "unreachable" in str(failed.value) and "timeout" in str(failed.value).lower()
        assert "\n" not in str(failed.value)
        assert sum(sent.values()) == 2  # a timeout is retried (once, as configured)


def test_closed_port_fails_fast_with_the_endpoint_named(s3_entry: Entry) -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(StorageError, match=rf"S3 at http://127.0.0.1:{port} is unreachable"):
        fresh(s3_entry(endpoint_url=f"http://127.0.0.1:{port}", retries=1))
    assert time.monotonic() - started < 8


def test_server_that_stops_reading_mid_upload_fails_within_the_timeout(
    s3_entry: Entry, deaf_endpoint: int, tmp_path: Path, opened_before_the_failure: None
) -> None:
    """botocore's timeouts do not cover a body that stops draining; the uploader's watchdog does."""
    local = random_file(tmp_path / "big", 40 * MiB)  # more than loopback's socket buffers can swallow
    storage = fresh(s3_entry(endpoint_url=f"http://127.0.0.1:{deaf_endpoint}", timeout=1, retries=0,
                             part_size="40M"))  # fmt: skip
    started = time.monotonic()
    with pytest.raises(StorageError, match="put_object sent no data for"):
        storage.put(local, f"{storage.root}/a/b")
    assert time.monotonic() - started < 8


def test_aborted_stream_leaves_no_multipart_upload(s3_entry: Entry, s3_server: S3Server) -> None:
    """A stream past one part is a multipart upload in progress; a dump that fails aborts it (S3 would bill its
    parts forever), and a storage error that is no lost server (a short stream) aborts it too."""
    for error in (None, OSError("upload is incomplete")):
        storage = fresh(s3_entry())
        remote = f"{storage.root}/site/site_2026-01-01_00-00-00.tar"
        upload = storage.open_upload(remote)
        for _ in range(12):
            upload.write(os.urandom(MiB))  # two 5 MiB parts sent, the third filling
        assert [k for k in dangling_uploads(s3_server) if k.startswith(storage.root.lstrip("/"))]
        upload.abort(error)
        assert [k for k in dangling_uploads(s3_server) if k.startswith(storage.root.lstrip("/"))] == []
        assert storage.list() == []


def test_stream_parts_grow_so_a_stream_of_unknown_size_fits_in_10000_parts(
    s3_entry: Entry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from corral_storage_s3 import upload as uploading

    monkeypatch.setattr(uploading, "GROWTH", 2)  # parts double every 2 parts instead of every 1,000
    storage = fresh(s3_entry())
    remote = f"{storage.root}/site/site_2026-01-01_00-00-00.tar"
    upload = storage.open_upload(remote)
    data = os.urandom(31 * MiB)
    for offset in range(0, len(data), MiB):
        upload.write(data[offset:offset + MiB])
    assert [upload.uploader.part_size * 2 ** (n // 2) // MiB for n in range(len(upload.etags))] == [5, 5, 10, 10]
    upload.commit(len(data))
    assert fetch(storage, remote, tmp_path) == data  # parts of 5, 5, 10, 10 and the last 1 MiB


def test_stream_to_a_hung_endpoint_fails_the_write_within_the_timeout(
    s3_entry: Entry, silent_endpoint: int, opened_before_the_failure: None
) -> None:
    """A dead server fails the storage's leg of the stream (its write raises) within the timeout; nothing is
    left to abort on a server that never created the upload."""
    storage = fresh(s3_entry(endpoint_url=f"http://127.0.0.1:{silent_endpoint}", timeout=1, retries=1))
    upload = storage.open_upload(f"{storage.root}/a/b")
    started = time.monotonic()
    with pytest.raises(StorageError, match="unreachable") as failed:
        for _ in range(20):
            upload.write(os.urandom(MiB))
    assert time.monotonic() - started < 8
    upload.abort(failed.value)
