"""The contract every storage plugin passes, against its real server.

A storage plugin's test module subclasses :class:`StorageContract` and provides one fixture, ``storage_entry``:
the YAML keys of a storage entry (``storage``, ``backup_dir``, connection keys) pointing at a throwaway server
the test suite started::

    class TestLocal(StorageContract):
        @pytest.fixture
        def storage_entry(self, tmp_path):
            return {"storage": "local", "backup_dir": str(tmp_path / "backups")}
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import secrets
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from corral.archive import Archive, RemoteFile, parse_backup
from corral.config.models import JobConfig, StorageConfig, StorageCore
from corral.plugins import load_driver
from corral.runner import Storage
from corral.storage_defaults import orphaned_upload

MiB = 1 << 20


def storage_config(entry: dict[str, Any]) -> StorageConfig:
    """Validate a storage entry exactly as the config loader does."""
    core_keys = set(StorageCore.model_fields) | {"month"}
    core = StorageCore.model_validate({k: v for k, v in entry.items() if k in core_keys})
    model = load_driver("storage", core.storage).hook.corral_storage_schema()
    options = model.model_validate({k: v for k, v in entry.items() if k not in core_keys})
    return StorageConfig(core.storage, core.enable, core.backup_dir, core.store, options, file_mode=core.file_mode,
                         dir_mode=core.dir_mode)


def open_storage(entry: dict[str, Any], job_name: str = "contract") -> Storage:
    config = storage_config(entry)
    job = JobConfig(name=job_name, type="external", tmp_dir=Path("/nonexistent"), options=None, sources=[],
                    storages=[config])
    return Storage(config, job)


class StorageContract:
    """Put/list/delete/get round trips, atomic uploads and retention on a real storage; streamed uploads."""

    #: whether the storage takes streams (``corral_storage_open_upload`` gives an upload): a plugin whose
    #: storage streams says True; otherwise the contract checks that the hook says it does not (returns None)
    streams: bool = False
    #: whether a stream is written under a hidden temp name until commit (False: S3's multipart upload, which
    #: shows nothing at all before it is completed)
    stream_temp_name: bool = True

    @pytest.fixture
    def storage_entry(self) -> dict[str, Any]:
        raise NotImplementedError("a storage plugin's test class provides `storage_entry`")

    @pytest.fixture
    def storage(self, storage_entry: dict[str, Any]) -> Storage:
        # a fresh job folder per test: tests never see each other's files
        return open_storage(storage_entry, job_name=f"contract-{secrets.token_hex(4)}")

    @staticmethod
    def _file(tmp_path: Path, name: str, size: int) -> Path:
        path = tmp_path / name
        path.write_bytes(secrets.token_bytes(size))
        return path

    @staticmethod
    def _fetch(storage: Storage, remote: str, tmp_path: Path) -> bytes:
        local = tmp_path / f"fetched-{secrets.token_hex(4)}"
        storage.driver.hook.corral_storage_get(fs=storage.fs, remote_path=remote, local_path=local)
        return local.read_bytes()

    def test_put_list_get_delete_round_trip(self, storage: Storage, tmp_path: Path) -> None:
        local = self._file(tmp_path, "site.tar.gz", 300_000)
        remote = storage.path_for(Archive(local, "site", "tar.gz"), datetime(2026, 3, 1, 4, 5, 6))
        storage.put(local, remote)
        listed = storage.list()
        assert [(posixpath.basename(f.path), f.size) for f in listed] == [
            ("site_2026-03-01_04-05-06.tar.gz", 300_000)
        ]
        assert self._fetch(storage, listed[0].path, tmp_path) == local.read_bytes()
        storage.delete(listed[0].path)
        assert storage.list() == []

    def test_open_read_streams_the_stored_bytes(self, storage: Storage, tmp_path: Path) -> None:
        """Restore reads an archive as a stream (no local copy): in chunks, to the last byte, then EOF."""
        local = self._file(tmp_path, "db.sql.zst", 3 * 2**20 + 12345)
        remote = storage.path_for(Archive(local, "db", "sql.zst"), datetime(2026, 3, 1, 4, 5, 6))
        storage.put(local, remote)
        chunks = []
        with storage.open_read(remote) as stream:
            while chunk := stream.read(2**20):
                chunks.append(chunk)
        assert b"".join(chunks) == local.read_bytes()
        assert len(chunks) >= 2

    def test_list_of_missing_folder_is_empty(self, storage: Storage) -> None:
        assert storage.list() == []

    def test_put_overwrites(self, storage: Storage, tmp_path: Path) -> None:
        remote = posixpath.join(storage.root, "db", "db_2026-01-01_00-00-00.sql")
        storage.put(self._file(tmp_path, "first", 1000), remote)
        second = self._file(tmp_path, "second", 2000)
        storage.put(second, remote)
        listed = storage.list()
        assert [f.size for f in listed] == [2000]
        assert self._fetch(storage, listed[0].path, tmp_path) == second.read_bytes()

    def test_nested_and_unicode_names(self, storage: Storage, tmp_path: Path) -> None:
        names = ["сайт.рф/сайт.рф_2026-01-01_00-00-00.tar", "a b/c/d/e_2026-01-01_00-00-00.tar"]
        for index, name in enumerate(names):
            storage.put(self._file(tmp_path, f"f{index}", 10 + index), posixpath.join(storage.root, name))
        found = sorted(f.path[len(storage.root):].lstrip("/") for f in storage.list())
        assert found == sorted(names)

    def test_interrupted_upload_leaves_nothing_under_the_final_name(
        self, storage: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        local = self._file(tmp_path, "big.tar", 2_000_000)
        remote = posixpath.join(storage.root, "big", "big_2026-01-01_00-00-00.tar")
        real_open = storage.fs.open

        def put_half_then_fail(lpath: str, rpath: str, *args: Any, **kwargs: Any) -> None:
            with real_open(rpath, "wb") as remote_file:
                remote_file.write(Path(lpath).read_bytes()[:1_000_000])
            raise ConnectionError("connection reset by peer (simulated mid-upload)")

        monkeypatch.setattr(storage.fs, "put_file", put_half_then_fail)
        with pytest.raises(ConnectionError):
            storage.put(local, remote)
        monkeypatch.undo()
        assert not storage.fs.exists(remote)
        assert [b for b in (parse_backup(f) for f in storage.list()) if b] == []

    def test_retention_deletes_expired_backups(self, storage: Storage, tmp_path: Path) -> None:
        from corral.config.models import Store
        from corral.retention import expired

        local = self._file(tmp_path, "x", 10)
        start = datetime(2026, 1, 1, 3, 0, 0)
        for day in range(20):
            made = start + timedelta(days=day)
            storage.put(local, storage.path_for(Archive(local, "site", "tar"), made))
        backups = [b for b in (parse_backup(f) for f in storage.list()) if b]
        assert len(backups) == 20
        store = Store(days=3)
        for backup in expired(backups, store, start + timedelta(days=20)):
            storage.delete(backup.path)
        left = sorted(b.made.day for b in (parse_backup(f) for f in storage.list()) if b)
        assert left == [19, 20]  # the last 3 days counting the run's day (21st, not made yet): 19th, 20th

    def test_rotation_recognises_the_files_corral_wrote(self, storage: Storage, tmp_path: Path) -> None:
        """The listing gives paths in the form rotation matches: a stored archive is the job's own, and so is
        the temp file of an interrupted upload; nothing else is."""
        from corral.archive import own_backup
        from corral.storage_defaults import orphaned_upload, partial_name

        local = self._file(tmp_path, "x", 10)
        remote = storage.path_for(Archive(local, "site", "tar.gz"), datetime(2026, 1, 1, 3, 0, 0))
        storage.put(local, remote)
        with storage.fs.open(partial_name(remote.replace("2026-01-01", "2026-01-02")), "wb") as half_written:
            half_written.write(b"half")
        listed = storage.list()
        owned = [f.path for f in listed if own_backup(f, storage.root, ("tar.gz",))]
        orphans = [f.path for f in listed if orphaned_upload(f, storage.root, ("tar.gz",))]
        assert (len(listed), len(owned), len(orphans)) == (2, 1, 1), listed

    # ------------------------------------------------------------------------------------ streamed uploads

    def _stream(self, storage: Storage, remote: str) -> Any:
        upload = storage.open_upload(remote)
        if not self.streams:
            assert upload is None, "a storage that says it does not stream must return None (it is spooled)"
            pytest.skip("this storage is spooled: it takes no streams")
        assert upload is not None, "the storage should stream: corral_storage_open_upload returned None"
        return upload

    #: chunks of a stream, unevenly cut as a pipe gives them; 6.3 MB: past one 5 MiB multipart part
    STREAM_CHUNKS = (1, 65_536, 1 << 20, 3_000_000, 7, 1 << 20, 1_234_567)

    def test_stream_support_is_as_declared(self, storage: Storage) -> None:
        remote = posixpath.join(storage.root, "s", "s_2026-01-01_00-00-00.tar")
        upload = storage.open_upload(remote)
        assert (upload is not None) == self.streams
        if upload is not None:
            upload.abort(None)
        assert [f for f in storage.list() if posixpath.basename(f.path) == posixpath.basename(remote)] == []

    def test_stream_lands_whole_under_its_final_name(self, storage: Storage, tmp_path: Path) -> None:
        remote = posixpath.join(storage.root, "site", "site_2026-01-01_00-00-00.tar")
        upload = self._stream(storage, remote)
        chunks = [secrets.token_bytes(size) for size in self.STREAM_CHUNKS]
        for chunk in chunks:
            upload.write(chunk)
        assert not storage.fs.exists(remote), "the final name appeared before commit"
        upload.commit(sum(self.STREAM_CHUNKS))
        listed = storage.list()
        assert [(f.path, f.size) for f in listed] == [(remote, sum(self.STREAM_CHUNKS))]
        assert self._fetch(storage, remote, tmp_path) == b"".join(chunks)

    def test_small_and_empty_streams(self, storage: Storage, tmp_path: Path) -> None:
        for name, data in (("small", b"x" * 1000), ("empty", b"")):
            remote = posixpath.join(storage.root, name, f"{name}_2026-01-01_00-00-00.tar")
            upload = self._stream(storage, remote)
            upload.write(data)
            upload.commit(len(data))
            assert self._fetch(storage, remote, tmp_path) == data
        assert sorted(f.size for f in storage.list()) == [0, 1000]

    def test_stream_replaces_an_archive_of_the_same_name(self, storage: Storage, tmp_path: Path) -> None:
        remote = posixpath.join(storage.root, "db", "db_2026-01-01_00-00-00.sql")
        storage.put(self._file(tmp_path, "first", 1000), remote)
        upload = self._stream(storage, remote)
        upload.write(b"second" * 100)
        upload.commit(600)
        assert self._fetch(storage, remote, tmp_path) == b"second" * 100

    def test_short_stream_is_refused_at_commit(self, storage: Storage) -> None:
        """Fewer bytes arrived than the stream had: an error, and nothing under the final name."""
        remote = posixpath.join(storage.root, "short", "short_2026-01-01_00-00-00.tar")
        upload = self._stream(storage, remote)
        upload.write(b"x" * 5000)
        with pytest.raises(OSError, match="incomplete"):
            upload.commit(5001)
        upload.abort(OSError("incomplete"))
        assert not storage.fs.exists(remote)
        assert storage.list() == []

    def test_aborted_stream_leaves_nothing(self, storage: Storage) -> None:
        """A dump that failed half-way (``abort(None)``): nothing under the final name, no temp file either."""
        remote = posixpath.join(storage.root, "big", "big_2026-01-01_00-00-00.tar")
        upload = self._stream(storage, remote)
        for size in self.STREAM_CHUNKS[:4]:
            upload.write(secrets.token_bytes(size))
        upload.abort(None)
        assert not storage.fs.exists(remote)
        assert storage.list() == []

    def test_stream_in_progress_is_what_rotation_cleans(self, storage: Storage) -> None:
        """While a stream is written (and if its run dies), the only file it shows is the temp name rotation
        removes as an orphaned upload, never one that looks like a backup."""
        from corral.archive import own_backup
        from corral.storage_defaults import orphaned_upload

        remote = posixpath.join(storage.root, "site", "site_2026-01-02_00-00-00.tar.gz")
        upload = self._stream(storage, remote)
        upload.write(secrets.token_bytes(100_000))
        upload.write(secrets.token_bytes(1 << 20))
        listed = storage.list()
        try:
            assert len(listed) == (1 if self.stream_temp_name else 0), listed
            assert [f for f in listed if own_backup(f, storage.root, ("tar.gz",))] == []
            assert all(orphaned_upload(f, storage.root, ("tar.gz",)) for f in listed), listed
        finally:
            upload.abort(None)
        assert storage.list() == []


# ------------------------------------------------------------------ helpers for a storage plugin's fault tests


def fresh_storage(entry: dict[str, Any]) -> Storage:
    """A storage whose job folder no other test uses."""
    return open_storage(entry, job_name=f"job-{secrets.token_hex(4)}")


def sparse_file(path: Path, size: int) -> Path:
    """A big archive stand-in that costs no disk (protocols here send every byte)."""
    with open(path, "wb") as out:
        out.truncate(size)
    return path


def raised(action: Callable[[], object]) -> Exception:
    """The exception ``action`` raises (what a library really raises, to test how it is classified)."""
    try:
        action()
    except Exception as exc:
        return exc
    raise AssertionError(f"{action} raised nothing")


def existing_folder(path: Path, owner: str | None = None, mode: int = 0o751) -> Path:
    """A folder made before corral ran (an admin's ``backup_dir``), owned by the server's user: corral must leave
    its mode alone."""
    path.mkdir(parents=True)
    if owner is not None:
        shutil.chown(path, owner, owner)
    path.chmod(mode)
    return path


def stored_modes(entry: dict[str, Any], on_disk: Callable[[str], Path], tmp_path: Path) -> dict[str, str]:
    """Put one archive into a fresh job folder; the permissions the server's disk gives the archive, its folder,
    the job folder and ``backup_dir`` (``on_disk`` maps a path on the storage to the server's file)."""
    storage = fresh_storage(entry)
    local = tmp_path / f"site-{secrets.token_hex(4)}.tar"
    local.write_bytes(secrets.token_bytes(70_000))
    remote = posixpath.join(storage.root, "site", "site_2026-01-01_00-00-00.tar")
    storage.put(local, remote)
    stored = on_disk(remote)
    assert stored.read_bytes() == local.read_bytes()
    return {what: f"{stat.S_IMODE(path.stat().st_mode):04o}" for what, path in
            (("archive", stored), ("target folder", stored.parent), ("job folder", stored.parent.parent),
             ("backup_dir", stored.parent.parent.parent))}  # fmt: skip


@contextlib.contextmanager
def traced(pids: list[int], log: Path, syscalls: str) -> Iterator[Callable[[], list[str]]]:
    """``strace -f -y`` on running processes (a server and its per-connection children) for the block; yields a
    function that returns the calls seen, in order, without their process ids (file descriptors show their paths).
    Skips the test where processes cannot be traced."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    command = ["strace", "-f", "-y", "-qq", "-o", str(log), "-e", f"trace={syscalls}"]
    tracer = subprocess.Popen([*command, *(arg for pid in pids for arg in ("-p", str(pid)))],
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not all(_traced_by(pid, tracer.pid) for pid in pids):
            if tracer.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"strace cannot attach here: {tracer.stderr.read() if tracer.stderr else ''}")
            time.sleep(0.01)
        yield lambda: [re.sub(r"^\d+\s+", "", line) for line in log.read_text().splitlines()]
    finally:
        tracer.terminate()  # strace detaches and leaves the processes running
        tracer.wait(timeout=30)


def synced_before_rename(storage: Storage, pids: list[int], tmp_path: Path) -> list[str]:
    """Put one archive while ``strace`` watches ``pids`` (the server's processes); returns the server's fsync and
    rename calls, in order, if its temp file was fsync'd before the rename to the final name, else raises."""
    local = tmp_path / f"synced-{secrets.token_hex(4)}.tar"
    local.write_bytes(secrets.token_bytes(300_000))
    remote = posixpath.join(storage.root, "site", "site_2026-01-01_00-00-00.tar")
    with traced(pids, tmp_path / "server.trace", "fsync,fdatasync,rename,renameat,renameat2") as calls:
        storage.put(local, remote)
    seen = calls()
    final = re.compile(rf'[/"]{re.escape(posixpath.basename(remote))}"')
    renamed = [i for i, call in enumerate(seen) if call.startswith("rename") and final.search(call)]
    synced = [i for i, call in enumerate(seen) if call.startswith(("fsync(", "fdatasync(")) and ".partial-" in call]
    assert len(renamed) == 1 and synced and synced[0] < renamed[0], f"no fsync of the temp file before: {seen}"
    return seen


def _traced_by(pid: int, tracer: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True  # gone: nothing to wait for
    return f"TracerPid:\t{tracer}\n" in status


def wait_for_partial(folder: Path, timeout: float = 30) -> Path:
    """The hidden temp file of an upload in progress, once some bytes arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for found in folder.rglob(".*.partial-*"):
            if found.stat().st_size > 0:
                return found
        time.sleep(0.005)
    raise AssertionError(f"no upload started under {folder}")


WRONG_PASSWORD = "not-the-password-" + "x" * 12


def wrong_password_refused(entry: dict[str, Any]) -> str:
    """Open the storage of ``entry`` with :data:`WRONG_PASSWORD` (3 retries allowed): a PermissionError at once,
    never retried, that does not show the password. Its message."""
    started = time.monotonic()
    with pytest.raises(PermissionError) as caught:
        open_storage({**entry, "password": WRONG_PASSWORD, "retries": 3})
    message = str(caught.value)
    assert WRONG_PASSWORD not in message
    assert time.monotonic() - started < 10, "an authentication failure must not be retried"
    return message


def unanswered_within(entry: dict[str, Any], seconds: float) -> None:
    """Open the storage of ``entry``, a server that accepts connections and never answers, with ``password:
    secret-pw``, ``timeout: 1``, ``retries: 1``: a TimeoutError within ``seconds``, that does not show the
    password."""
    started = time.monotonic()
    with pytest.raises(TimeoutError) as caught:
        open_storage({**entry, "password": "secret-pw", "timeout": 1, "retries": 1})
    elapsed = time.monotonic() - started
    assert "timed out" in str(caught.value) and "secret-pw" not in str(caught.value)
    assert elapsed < seconds, f"took {elapsed:.1f} s"


def orphaned_temp_file_is_listed_and_deleted(storage: Storage) -> None:
    """A hidden temp file a dead run left is listed (with its size) so rotation can delete it, and deleted."""
    orphan = posixpath.join(storage.root, "db/.db_2026-01-01_00-00-00.sql.gz.partial-0a1b2c3d")
    storage.fs.makedirs(posixpath.dirname(orphan), exist_ok=True)
    with storage.fs.open(orphan, "wb") as half_written:
        half_written.write(b"half")
    listed = storage.list()
    assert [(posixpath.basename(f.path), f.size) for f in listed] == [(posixpath.basename(orphan), 4)]
    storage.delete(listed[0].path)
    assert storage.list() == []


def upload_through_a_fault(
    storage: Storage, local: Path, remote: str, fault: AbstractContextManager[object], partial_in: Path,
    wait: float = 30,
) -> tuple[Exception | None, float]:
    """Put ``local`` in a thread; once its first bytes are on the server's disk (under ``partial_in``), hold
    ``fault`` (a frozen server) while the upload gets ``wait`` seconds to end. What the upload raised (None if
    nothing) and how long it hung from the fault."""
    raised_by_put: list[Exception] = []

    def upload() -> None:
        try:
            storage.put(local, remote)
        except Exception as exc:
            raised_by_put.append(exc)

    worker = threading.Thread(target=upload)
    worker.start()
    wait_for_partial(partial_in)
    with fault:
        frozen_at = time.monotonic()
        worker.join(timeout=wait)
        hung_for = time.monotonic() - frozen_at
    worker.join(timeout=30)
    return (raised_by_put[0] if raised_by_put else None), hung_for


def upload_through_a_cut(
    storage: Storage, local: Path, remote: str, cut: Callable[[], object], on_disk: Callable[[str], Path],
    partial_in: Path,
) -> None:
    """Put ``local`` in a thread and ``cut`` its connection once bytes arrived (under ``partial_in``): the upload
    must be retried on a new connection and land whole, alone, under its final name (``on_disk`` maps a path on
    the storage to the server's file)."""
    worker = threading.Thread(target=storage.put, args=(local, remote))
    worker.start()
    wait_for_partial(partial_in)
    assert cut(), "no connection to cut"
    worker.join(timeout=120)
    assert not worker.is_alive()
    assert on_disk(remote).stat().st_size == local.stat().st_size
    assert [f.path for f in storage.list()] == [remote]


def _open_stream(storage: Storage, remote: str) -> Any:
    upload = storage.open_upload(remote)
    assert upload is not None, "the storage should stream: corral_storage_open_upload returned None"
    return upload


def stream_through_a_fault(
    storage: Storage, remote: str, fault: Callable[[], object], partial_in: Path, *, first: int = MiB,
    then: int = 256, give_up: Callable[[], object] | None = None,
) -> tuple[OSError, float, float]:
    """Stream ``first`` random bytes to ``remote``, wait until some are on the server's disk (under
    ``partial_in``), apply ``fault`` (freeze or kill the server), write ``then`` MiB more (far more than the
    sockets' buffers hold) and commit: that must raise. Then give the stream up as the job does (``abort``, and
    ``give_up`` if given). The error, the seconds from the fault to the error, the seconds giving up took."""
    upload = _open_stream(storage, remote)
    upload.write(os.urandom(first))
    wait_for_partial(partial_in)
    fault()
    started = time.monotonic()
    with pytest.raises(OSError) as failed:
        for _ in range(then):
            upload.write(bytes(MiB))
        upload.commit(first + then * MiB)
    failed_in = time.monotonic() - started
    upload.abort(failed.value)
    if give_up is not None:
        give_up()
    return failed.value, failed_in, time.monotonic() - started - failed_in


def only_an_orphaned_upload_left(storage: Storage, remote: str, on_disk: Callable[[str], Path]) -> None:
    """After a stream to ``remote`` failed (and a frozen server was thawed): nothing under its final name, and the
    one file in its folder is the hidden temp name the next run's rotation deletes."""
    time.sleep(1)  # a thawed server finishes what it had received
    assert not on_disk(remote).exists()
    folder = posixpath.dirname(remote)
    [left] = on_disk(folder).iterdir()
    temp = RemoteFile(posixpath.join(folder, left.name), left.stat().st_size)
    assert orphaned_upload(temp, storage.root, ("tar",)), left.name


@contextlib.contextmanager
def paused(freeze: AbstractContextManager[object], seconds: float) -> Iterator[None]:
    """``freeze`` (a server frozen while it is entered) entered now and left after ``seconds`` in the background;
    the block's end waits for the thaw."""
    with contextlib.ExitStack() as thaw:
        thaw.enter_context(freeze)
        timer = threading.Timer(seconds, thaw.close)
        timer.start()
        try:
            yield
        finally:
            timer.join()


def stream_through_a_pause(
    storage: Storage, remote: str, pause: AbstractContextManager[object], partial_in: Path, *, before: int = 1,
    chunks: int = 48,
) -> tuple[bytes, float]:
    """Stream ``chunks`` random MiB to ``remote`` and commit them: after the first ``before`` are on the server's
    disk (under ``partial_in``), the rest are written and committed under ``pause`` (a server frozen for less than
    the timeout). The bytes sent and the seconds the rest took."""
    upload = _open_stream(storage, remote)
    sent = [os.urandom(MiB) for _ in range(chunks)]
    for chunk in sent[:before]:
        upload.write(chunk)
    wait_for_partial(partial_in)
    with pause:
        started = time.monotonic()
        for chunk in sent[before:]:  # far more than the sockets' (and pipes') buffers hold: they wait for the thaw
            upload.write(chunk)
        upload.commit(chunks * MiB)
        took = time.monotonic() - started
    return b"".join(sent), took
