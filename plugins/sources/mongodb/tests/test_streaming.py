"""Databases stream: one five times larger than tmp_dir (a 2 MiB tmpfs) is stored whole and extracts, even with a
20 MiB collection (spilled to tmp_dir compressed, since its tar header needs its size), and a compressor that
fails half-way leaves nothing under a final name anywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pymongo
import pytest
from bson import Binary
from mongodb_testkit import NOW, extract, mongo_job, mongo_source

from corral.testing.cli import start_in_small_tmp, write_main
from corral_testservers import Mongo

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a size-limited tmpfs (root only)")
MIB = 1024 * 1024


def _start_in_small_tmp(tmp_path: Path, main: Path, path: str | None = None) -> subprocess.CompletedProcess[str]:
    """``corral start`` with tmp_dir a 2 MiB tmpfs."""
    return start_in_small_tmp(tmp_path / "small-tmp", ["start", "-c", str(main)],
                              {"CORRAL_NOW": NOW, **({"PATH": path} if path else {})})


def _load(server: Mongo) -> None:
    with pymongo.MongoClient(**server.connect_kwargs()) as client:
        db = client.get_database("streamed")
        for index in range(10):  # 1 MiB of random bytes each: buffered in memory, never on disk
            db.get_collection(f"c{index}").insert_many(
                [{"_id": n, "data": Binary(os.urandom(MIB // 4))} for n in range(4)])
        db.get_collection("large").insert_many([{"_id": n, "data": Binary(bytes([n]) * MIB)} for n in range(20)])


def _job(server: Mongo, tmp_path: Path, compression: str) -> Path:
    job = mongo_job("mongo", [mongo_source(server, target=["streamed"], compression=compression)],
                    tmp_path / "backups")
    job["tmp_dir"] = str(tmp_path / "small-tmp" / "work")
    return write_main(tmp_path, [job])


def test_a_database_bigger_than_tmp_dir_streams(tmp_path: Path, fresh_mongo: Mongo) -> None:
    _load(fresh_mongo)
    done = _start_in_small_tmp(tmp_path, _job(fresh_mongo, tmp_path, "none"))
    assert done.returncode == 0, done.stderr
    (archive,) = (tmp_path / "backups").rglob("*.tar")
    assert archive.stat().st_size > 30 * MIB
    restored = extract(archive, tmp_path / "restore") / "streamed"
    assert (restored / "large.bson").stat().st_size > 20 * MIB
    assert sorted(path.name for path in restored.glob("c*.bson")) == [f"c{index}.bson" for index in range(10)]


def test_a_compressor_failing_half_way_stores_nothing(tmp_path: Path, fresh_mongo: Mongo) -> None:
    _load(fresh_mongo)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "zstd").write_text(f"#!/bin/bash\nhead -c 3000000 | '{shutil.which('zstd')}' -c\n"
                                  "echo 'zstd: error 70 : Write error : No space left on device' >&2\nexit 1\n")
    (bin_dir / "zstd").chmod(0o755)
    done = _start_in_small_tmp(tmp_path, _job(fresh_mongo, tmp_path, "zstd"), path=f"{bin_dir}:{os.environ['PATH']}")
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if "[ERROR] [mongo] source 1:" in line]
    assert len(errors) == 1, done.stderr
    assert errors[0].endswith("source 1: target streamed: `zstd` failed: zstd: error 70 : Write error : No space left "
                              "on device; nothing was stored"), errors[0]
    assert not [path for path in (tmp_path / "backups").rglob("*")
                if path.is_file() and ".runs" not in path.parts], "not even a temp file (the run record aside)"
