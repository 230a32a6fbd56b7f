"""A ``corral restore`` into a server that is stopped (SIGINT, SIGTERM) or fails mid-load drops the database it
created, says so in one line, and leaves no half-loaded database behind."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pymongo
import pytest
from mongodb_testkit import mongo_job, mongo_source

from corral.testing.cli import CORRAL, corral, write_main
from corral_testservers import Mongo, start_mongo

COLLECTIONS, DOCUMENTS = 6, 20000


@pytest.fixture
def loaded(server_tmp_path: Path) -> Iterator[Mongo]:
    with start_mongo(server_tmp_path / "src") as server, pymongo.MongoClient(**server.connect_kwargs()) as client:
        for c in range(COLLECTIONS):
            client.shop[f"c{c}"].insert_many([{"_id": i, "pad": "x" * 200} for i in range(DOCUMENTS)])
        yield server


def backup(tmp_path: Path, server: Mongo) -> Path:
    config = write_main(tmp_path, [mongo_job("mongo", [mongo_source(server, compression="zstd")], tmp_path / "b")])
    done = corral("start", "-c", str(config), env={"CORRAL_NOW": "2026-01-31T03:00:00"})
    assert done.returncode == 0, done.stderr
    return config


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_restore_stopped_mid_load_drops_the_database_it_created(tmp_path: Path, loaded: Mongo,
                                                                    stop: signal.Signals) -> None:
    config = backup(tmp_path, loaded)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    with pymongo.MongoClient(**loaded.connect_kwargs()) as client:
        process = subprocess.Popen([*CORRAL, "restore", "mongo", "--target", "shop", "--as", "shop_copy", "-c",
                                    str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and client.shop_copy["c0"].estimated_document_count() == 0:
            time.sleep(0.02)
        process.send_signal(stop)
        out, err = process.communicate(timeout=120)
        assert process.returncode == 128 + stop, (out, err)
        assert f"stopped: dropped the half-loaded database `shop_copy` on 127.0.0.1:{loaded.port}" in out, out
        assert "shop_copy" not in client.list_database_names()
        assert client.shop["c5"].estimated_document_count() == DOCUMENTS


def test_a_restore_failing_mid_load_drops_the_database_it_created(tmp_path: Path, loaded: Mongo) -> None:
    config = backup(tmp_path, loaded)
    archive = next((tmp_path / "b").rglob("shop_*.tar.zst"))
    plain = subprocess.run(["zstd", "-dc", str(archive)], check=True, capture_output=True).stdout
    damaged = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(plain), mode="r:") as tar, tarfile.open(fileobj=damaged, mode="w") as out:
        for member in tar:
            data = tar.extractfile(member).read() if member.isfile() else b""  # type: ignore[union-attr]
            if member.name == "shop/c5.bson":  # the last collection: the others are loaded by then
                data = data[:1000] + b"\xff" * (len(data) - 1000)
            out.addfile(member, io.BytesIO(data) if member.isfile() else None)
    archive.write_bytes(subprocess.run(["zstd", "-c"], input=damaged.getvalue(), check=True,
                                       capture_output=True).stdout)
    done = corral("restore", "mongo", "--target", "shop", "--as", "shop_copy", "--no-verify", "-c", str(config))
    assert done.returncode == 1, done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "dropped the half-loaded database" in done.stderr and "shop_copy" in done.stderr, done.stderr
    with pymongo.MongoClient(**loaded.connect_kwargs()) as client:
        assert "shop_copy" not in client.list_database_names()
