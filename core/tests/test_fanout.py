"""One stream to several uploads: every healthy leg gets every byte in order, a failing one drops out alone."""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import threading
from pathlib import Path

from corral.fanout import CHUNK, Leg, commit_all, fan_out


class Collected:
    """An upload that keeps what it was given; ``fail_after`` bytes make its write fail."""

    def __init__(self, fail_after: int | None = None, commit_barrier: threading.Barrier | None = None) -> None:
        self.data = bytearray()
        self.fail_after = fail_after
        self.committed: int | None = None
        self.barrier = commit_barrier

    def write(self, data: bytes) -> None:
        if self.fail_after is not None and len(self.data) + len(data) > self.fail_after:
            raise OSError("No space left on device")
        self.data += data

    def commit(self, size: int) -> None:
        if self.barrier is not None:
            self.barrier.wait()  # returns only when every leg is committing at the same time
        self.committed = size

    def abort(self, error: BaseException | None) -> None:
        self.data.clear()


def _producer(tmp_path: Path, size: int) -> subprocess.Popen[bytes]:
    """A real program writing ``size`` random bytes into a pipe, as tar or a dump does."""
    source = tmp_path / "source"
    source.write_bytes(os.urandom(size))
    return subprocess.Popen(["cat", str(source)], stdout=subprocess.PIPE)


def test_every_leg_gets_the_whole_stream_and_the_feed_sees_it_in_order(tmp_path: Path) -> None:
    size = 5 * CHUNK + 12345
    producer = _producer(tmp_path, size)
    uploads = [Collected(), Collected()]
    digest = hashlib.sha256()
    assert producer.stdout is not None
    read = fan_out(producer.stdout, [Leg(f"leg{i}", upload) for i, upload in enumerate(uploads)], 30, digest.update)
    producer.wait()
    expected = (tmp_path / "source").read_bytes()
    assert read == size
    assert all(bytes(upload.data) == expected for upload in uploads)
    assert digest.hexdigest() == hashlib.sha256(expected).hexdigest()


def test_a_failing_leg_drops_out_and_the_others_finish(tmp_path: Path) -> None:
    producer = _producer(tmp_path, 4 * CHUNK)
    good, bad = Collected(), Collected(fail_after=CHUNK + 1)
    legs = [Leg("good", good), Leg("bad", bad)]
    assert producer.stdout is not None
    fan_out(producer.stdout, legs, 30)
    producer.wait()
    assert bytes(good.data) == (tmp_path / "source").read_bytes()
    assert legs[0].ok and isinstance(legs[1].error, OSError)


def test_a_leg_that_takes_nothing_is_given_up_after_the_stall_time(tmp_path: Path) -> None:
    producer = _producer(tmp_path, 8 * CHUNK)
    stuck = threading.Event()

    class Frozen(Collected):
        def write(self, data: bytes) -> None:
            stuck.wait(30)  # a server that stopped answering

    legs = [Leg("ok", Collected()), Leg("frozen", Frozen())]
    assert producer.stdout is not None
    fan_out(producer.stdout, legs, 0.5)
    stuck.set()
    producer.wait()
    assert legs[0].ok
    assert legs[1].stalled and isinstance(legs[1].error, TimeoutError)


def test_commits_run_at_the_same_time(tmp_path: Path) -> None:
    """Each storage's last parts and sync overlap with the others': the barrier only opens if all commit at once."""
    barrier = threading.Barrier(3, timeout=20)
    uploads = [Collected(commit_barrier=barrier) for _ in range(3)]
    legs = [Leg(f"leg{i}", upload) for i, upload in enumerate(uploads)]
    producer = _producer(tmp_path, CHUNK)
    assert producer.stdout is not None
    size = fan_out(producer.stdout, legs, 30)
    producer.wait()
    commit_all(legs, size)
    assert [upload.committed for upload in uploads] == [size] * 3
    assert all(leg.ok for leg in legs)


def test_a_failed_commit_is_the_legs_error_and_not_the_others(tmp_path: Path) -> None:
    class Refused(Collected):
        def commit(self, size: int) -> None:
            raise PermissionError("rename refused")

    legs = [Leg("ok", Collected()), Leg("refused", Refused())]
    producer = _producer(tmp_path, 100)
    assert producer.stdout is not None
    size = fan_out(producer.stdout, legs, 30)
    producer.wait()
    commit_all(legs, size)
    assert legs[0].ok
    assert isinstance(legs[1].error, PermissionError)


def test_the_pipe_is_widened_to_a_chunk() -> None:
    """The program writing the pipe can run a whole chunk ahead while the reader hands one out."""
    read_end, write_end = os.pipe()
    os.write(write_end, b"data")
    os.close(write_end)
    with open(read_end, "rb") as reader:
        upload = Collected()
        assert fan_out(reader, [Leg("one", upload)], 30) == 4
        assert fcntl.fcntl(reader.fileno(), fcntl.F_GETPIPE_SZ) >= CHUNK
    assert bytes(upload.data) == b"data"
