"""The streamed tar: GNU tar and Python's tarfile read what it writes, for every codec, whatever the member sizes."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from datetime import datetime
from pathlib import Path

import pytest

from corral import RunContext
from corral_source_mongodb.compression import Codec, codec
from corral_source_mongodb.tarstream import ArchiveError, TarStream

LONG = "d\u00fcb/" + "c" * 230 + ".metadata.json"  # needs a GNU long-name header


def run_context(tmp_path: Path) -> RunContext:
    return RunContext(now=datetime(2026, 1, 31, 3), main=None, config_path=tmp_path / "corral.conf")


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("name", ["zstd", "gzip", "none"])
def test_members_of_any_size_read_back_with_gnu_tar_and_tarfile(name: str, tmp_path: Path) -> None:
    members = {
        "db/small.bson": os.urandom(1000),
        "db/exactly-spill.bson": os.urandom(4096),
        "db/large.bson": os.urandom(50_000) + b"\0" * 100_000,  # past the spill: header rewritten in place
        "db/empty.bson": b"",
        LONG: b'{"indexes":[]}',
        "db/large-too.bson": os.urandom(9000),
    }
    chosen = codec(name)
    archive = tmp_path / f"out.{chosen.extension}"
    with TarStream(archive, chosen, run_context(tmp_path), spill=4096) as tar:
        tar.add_directory("db")
        for member, data in members.items():
            assert tar.add_stream(member, chunks(data, 777)) == len(data)
    assert sorted(os.listdir(tmp_path)) == [archive.name]  # no spill file, no uncompressed copy

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


def test_a_failing_compressor_leaves_no_partial_archive(tmp_path: Path) -> None:
    broken = Codec("zstd", "tar.zst", ("sh", "-c", "head -c 10 >/dev/null; echo 'disk full' >&2; exit 3"))
    archive = tmp_path / "out.tar.zst"
    with pytest.raises(ArchiveError, match="`sh` failed: disk full"), \
            TarStream(archive, broken, run_context(tmp_path), spill=10) as tar:
        tar.add_stream("db/a.bson", [os.urandom(100_000)] * 20)
    assert os.listdir(tmp_path) == []


def test_an_error_from_the_data_source_leaves_no_partial_archive(tmp_path: Path) -> None:
    def cursor() -> object:
        yield os.urandom(5000)
        raise ConnectionResetError("server went away")

    archive = tmp_path / "out.tar.zst"
    with pytest.raises(ConnectionResetError), TarStream(archive, codec("zstd"), run_context(tmp_path), spill=10) as tar:
        tar.add_stream("db/a.bson", cursor())
    assert os.listdir(tmp_path) == []


def test_stored_frames_decompress_with_the_standard_tools() -> None:
    for name, tool in (("gzip", ["gzip", "-dc"]), ("gzip", ["pigz", "-dc"]), ("zstd", ["zstd", "-dcq"])):
        frames = codec(name).stored_frame(b"head ") + codec(name).stored_frame(b"") + codec(name).stored_frame(b"tail")
        assert subprocess.run(tool, input=frames, capture_output=True, check=True).stdout == b"head tail"
    with pytest.raises(ValueError):
        codec("zstd").stored_frame(b"x" * 70_000)
