"""The streamed tar: GNU tar and Python's tarfile read what it writes, for every codec, whatever the member sizes;
a failure anywhere makes finish() raise, and nothing is left in the work folder."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from corral import RunContext
from corral_source_mongodb.compression import Codec, codec
from corral_source_mongodb.tarstream import ArchiveError, ArchiveStream, TarStream

LONG = "d\u00fcb/" + "c" * 230 + ".metadata.json"  # needs a GNU long-name header


def run_context(tmp_path: Path) -> RunContext:
    return RunContext(now=datetime(2026, 1, 31, 3), main=None, config_path=tmp_path / "corral.conf")


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def write_archive(tmp_path: Path, chosen: Codec, produce: Callable[[TarStream], None], spill: int) -> Path:
    """What the core does: read the stream to its end (here into a file), then finish it."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    stream = ArchiveStream(chosen, run_context(tmp_path), work, produce, spill=spill)
    archive = tmp_path / f"out.{chosen.extension}"
    with open(archive, "wb") as out:
        while data := stream.reader.read(1 << 16):
            out.write(data)
    try:
        stream.finish()
    finally:
        assert os.listdir(work) == []  # no spill file left, no uncompressed copy
    return archive


@pytest.mark.parametrize("name", ["zstd", "gzip", "none"])
def test_members_of_any_size_read_back_with_gnu_tar_and_tarfile(name: str, tmp_path: Path) -> None:
    members = {
        "db/small.bson": os.urandom(1000),
        "db/exactly-spill.bson": os.urandom(4096),
        "db/large.bson": os.urandom(50_000) + b"\0" * 100_000,  # past the spill: through a temp file
        "db/empty.bson": b"",
        LONG: b'{"indexes":[]}',
        "db/large-too.bson": os.urandom(9000),
    }
    chosen = codec(name)

    def produce(tar: TarStream) -> None:
        tar.add_directory("db")
        for member, data in members.items():
            assert tar.add_stream(member, chunks(data, 777)) == len(data)

    archive = write_archive(tmp_path, chosen, produce, spill=4096)

    out = tmp_path / "x"
    out.mkdir()
    listing = subprocess.run(["tar", "-xvf", str(archive), "-C", str(out)], capture_output=True, text=True, check=True)
    assert listing.stdout.splitlines() == ["db/", *members]
    for member, data in members.items():
        assert (out / member).read_bytes() == data
    raw = subprocess.run(["zstd", "-dc", str(archive)], capture_output=True, check=True).stdout if name == "zstd" \
        else None  # Python 3.11's tarfile knows no zstd
    with (tarfile.open(fileobj=io.BytesIO(raw)) if raw is not None else tarfile.open(archive)) as reader:
        assert [m.name for m in reader.getmembers()] == ["db", *members]
        assert reader.extractfile("db/large.bson").read() == members["db/large.bson"]
    assert (archive.stat().st_size if name == "none" else 0) % tarfile.RECORDSIZE == 0


def test_a_failing_compressor_fails_the_archive(tmp_path: Path) -> None:
    broken = Codec("zstd", "tar.zst", ("sh", "-c", "head -c 10 >/dev/null; echo 'disk full' >&2; exit 3"))
    with pytest.raises(ArchiveError, match="`sh` failed: disk full"):
        write_archive(tmp_path, broken, lambda tar: [tar.add_stream("db/a.bson", [os.urandom(100_000)] * 20)],
                      spill=10)


def test_an_error_from_the_data_source_fails_the_archive(tmp_path: Path) -> None:
    def cursor() -> Iterator[bytes]:
        yield os.urandom(5000)
        raise ConnectionResetError("server went away")

    with pytest.raises(ConnectionResetError):
        write_archive(tmp_path, codec("zstd"), lambda tar: [tar.add_stream("db/a.bson", cursor())], spill=10)
