"""``producer | compressor`` (corral.piped) with real programs: the bytes come out compressed, a failure of either
side is one line naming it, and a consumer that gives up leaves no program running."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import pytest

from corral import Codec, DumpError, RunContext, compressed
from corral.piped import Ended, Pipe

PAYLOAD = os.urandom(200_000).hex().encode()


@pytest.fixture
def run(tmp_path: Path) -> Iterator[RunContext]:
    context = RunContext(now=datetime(2026, 1, 31, 3), main=None, config_path=tmp_path / "corral.conf")
    yield context
    assert context._processes == set(), "every program the pipe started was waited for and forgotten"


def bash(text: str) -> list[str]:
    return ["bash", "-c", text]


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"  # a zombie is dead too
    except (OSError, IndexError):
        return True


def read_all(reader: BinaryIO) -> bytes:
    return b"".join(iter(lambda: reader.read(1 << 16), b""))


@pytest.mark.parametrize("name", ["zstd", "gzip", "none"])
def test_a_program_and_a_python_writer_come_out_compressed(run: RunContext, tmp_path: Path, name: str) -> None:
    codec = Codec.named(name)
    source = tmp_path / "payload"
    source.write_bytes(PAYLOAD)
    decompress = {"zstd": ["zstd", "-dcq"], "gzip": ["gzip", "-dc"], "none": ["cat"]}[name]

    def write(sink: BinaryIO) -> None:
        for start in range(0, len(PAYLOAD), 7777):
            sink.write(PAYLOAD[start : start + 7777])

    for producer in (["cat", str(source)], write):
        pipe = compressed(run, producer, codec.argv, tmp_path)
        data = read_all(pipe.reader)
        ended = pipe.wait()
        assert ended.ok and ended.error == "", ended
        assert pipe.wait() is ended, "wait() again returns the same result"
        assert subprocess.run(decompress, input=data, capture_output=True, check=True).stdout == PAYLOAD


def test_a_producer_failing_mid_stream_is_one_line_with_its_first_error_line(run: RunContext, tmp_path: Path) -> None:
    """zstd ends cleanly on the truncated stream: the producer's own exit code decides."""
    producer = bash("head -c 2000000 /dev/urandom; echo 'dump: lost the server' >&2; echo 'dump: bye' >&2; exit 3")
    pipe = compressed(run, producer, Codec.named("zstd").argv, tmp_path)
    read_all(pipe.reader)
    ended = pipe.wait()
    assert ended.error == "bash exited with code 3: dump: lost the server"
    assert ended.compressor is not None and not ended.compressor.failed
    assert ended.producer is not None and ended.producer.stderr == ("dump: lost the server", "dump: bye")


def test_a_failing_compressor_is_the_cause_and_the_producer_ends(run: RunContext, tmp_path: Path) -> None:
    broken = ["bash", "-c", "head -c 10 >/dev/null; echo 'zstd: no space left' >&2; exit 1"]
    pipe = compressed(run, bash("yes | head -c 50000000"), broken, tmp_path)
    read_all(pipe.reader)
    ended = pipe.wait()
    assert ended.error == "bash exited with code 1: zstd: no space left"
    assert ended.producer is not None and ended.producer.code != 0  # SIGPIPE: not the cause


def test_a_python_writer_that_raises_is_the_cause(run: RunContext, tmp_path: Path) -> None:
    def write(sink: BinaryIO) -> None:
        sink.write(b"x" * 100_000)
        raise ConnectionResetError("the server went away")

    pipe = compressed(run, write, Codec.named("zstd").argv, tmp_path)
    read_all(pipe.reader)
    ended = pipe.wait()
    assert isinstance(ended.raised, ConnectionResetError)
    assert ended.error == "the server went away"


def test_a_consumer_that_gives_up_leaves_nothing_running(run: RunContext, tmp_path: Path) -> None:
    """The producer writes a little, then works for minutes without writing: it would never see EPIPE."""
    pidfile = tmp_path / "grandchild"
    producer = bash(f"head -c 300000 /dev/urandom; sleep 600 & echo $! > {pidfile}; wait")
    pipe = compressed(run, producer, Codec.named("zstd").argv, tmp_path)
    items = pipe.archive("site", "tar.zst")
    next(items)  # zstd -T0 holds this little until its input ends: nothing to read yet
    deadline = time.monotonic() + 10  # the bytes fit in the pipes: the producer goes on to its long work
    while (not pidfile.exists() or not pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.01)
    programs = [*_pids(pipe), int(pidfile.read_text())]
    started = time.monotonic()
    items.close()  # what the core does when a storage failure or SIGTERM ends the job: the source's generator closes
    assert time.monotonic() - started < 5
    assert all(gone(pid) for pid in programs), programs
    assert pipe.wait().error == "the archive's stream was given up before its end"


def test_the_core_dropping_a_stream_kills_both_and_finish_says_why(run: RunContext, tmp_path: Path) -> None:
    pipe = compressed(run, bash("yes; sleep 600"), Codec.named("gzip").argv, tmp_path)
    items = pipe.archive("db", "sql.gz")  # held, as the core holds the source's generator
    item = next(items)
    item.reader.read(1 << 16)
    item.reader.close()  # corral.runner._drop: the reader is closed, then finish() is called
    with pytest.raises(DumpError, match=r"^the archive's stream was given up before its end$"):
        item.finish()
    assert all(gone(pid) for pid in _pids(pipe))


def test_a_program_that_cannot_start_is_named_and_nothing_runs(run: RunContext, tmp_path: Path) -> None:
    with pytest.raises(DumpError, match=r"^cannot start `/nonexistent/dump`: No such file or directory$"):
        compressed(run, ["/nonexistent/dump"], Codec.named("zstd").argv, tmp_path)
    with pytest.raises(DumpError, match=r"^cannot start `/nonexistent/zstd`: No such file or directory$"):
        compressed(run, bash("sleep 600"), ["/nonexistent/zstd"], tmp_path)
    assert os.listdir(tmp_path) == [], "no error file left"


def test_the_archive_reports_warnings_through_its_check(run: RunContext, tmp_path: Path) -> None:
    pipe = compressed(run, bash("echo data; echo 'warning: odd' >&2"), (), tmp_path)
    facts: dict[str, int] = {}

    def check(ended: Ended) -> tuple[str, ...]:
        facts["checked"] = 1
        return ended.producer.stderr if ended.producer else ()

    items = pipe.archive("x", "sql", check=check, facts=facts)
    item = next(items)
    assert item.facts is facts, "the source may fill the facts when the stream ends"
    assert read_all(item.reader) == b"data\n"
    assert item.finish() == ("warning: odd",)
    assert facts == {"checked": 1}


def _pids(pipe: Pipe) -> list[int]:
    return [process.pid for process in (pipe.producer, pipe.compressor) if process is not None]
