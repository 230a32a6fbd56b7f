"""``corral drill`` of a ``mongodb`` job, from a real ``corral start`` backup of the wire-protocol test server: the
archive decoded document by document without any server, compared with the facts; or, with ``drill: server``,
restored into a scratch database that is dropped after; the checks; damaged archives and BSON."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymongo
import pytest
from bson import SON
from mongodb_testkit import every_bson_type, mongo_job, mongo_source

from corral.testing.cli import corral, sigterm_once, write_main
from corral_testservers import Mongo, start_mongo

NOW = {"CORRAL_NOW": "2026-01-31T03:00:00"}


@pytest.fixture
def source(server_tmp_path: Path) -> Iterator[Mongo]:
    with start_mongo(server_tmp_path / "source") as server, pymongo.MongoClient(**server.connect_kwargs()) as client:
        shop = client.shop
        shop.orders.insert_many([every_bson_type(i) for i in range(1200)])  # more than one raw batch
        shop.orders.create_index([("customer", 1), ("created", -1)], unique=True, name="customer_created")
        shop.create_collection("empty")
        shop.command(SON([("create", "high"), ("viewOn", "orders"), ("pipeline", [{"$match": {"score": 9}}])]))
        shop["café/x y"].insert_one({"_id": "ünï"})
        yield server


def backup(tmp_path: Path, mongo: Mongo, compression: str = "zstd", **drill: Any) -> Path:
    job = mongo_job("mongo", [mongo_source(mongo, target=["shop"], compression=compression)], tmp_path / "backups")
    config = write_main(tmp_path, [{**job, "drill": drill} if drill else job])
    done = corral("start", "-c", str(config), env=NOW)
    assert done.returncode == 0, done.stderr
    return config


def drill(config: Path) -> subprocess.CompletedProcess[str]:
    return corral("drill", "mongo", "-c", str(config), env=NOW)


def line(done: subprocess.CompletedProcess[str]) -> str:
    [found] = [text for text in done.stdout.splitlines() if text.startswith("mongo/shop: ")]
    return found


def manifest(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    [record] = (tmp_path / "backups" / "mongo" / ".manifests").glob("*.json")
    return record, json.loads(record.read_text())


def test_a_good_backup_decodes_with_its_counts_without_a_server(tmp_path: Path, source: Mongo) -> None:
    config = backup(tmp_path, source, checks=[{"command": "test -s shop/orders.bson && test -s \"$CORRAL_DRILL_DIR\"/"
                                                          "shop/orders.metadata.json"}])
    done = drill(config)
    assert done.returncode == 0, done.stdout + done.stderr
    text = line(done)
    assert "(3 collection(s), 1,201 document(s) (decoded; no server)): passed; 1 check(s) passed" in text, text
    assert done.stdout.splitlines()[-1] == "DRILL PASSED: 1 of 1 target(s) restored as recorded"
    assert not list((tmp_path / "tmp" / "mongo").iterdir()), "the scratch folder is thrown away"


def test_a_facts_mismatch_fails_naming_the_collection(tmp_path: Path, source: Mongo) -> None:
    config = backup(tmp_path, source, tolerance=0.1)
    record, data = manifest(tmp_path)
    collections = data["archives"][0]["facts"]["collections"]
    assert collections["orders"] == {"documents": 1200, "indexes": ["_id_", "customer_created"]}, collections
    collections["orders"]["documents"] = 1400  # beyond 10 %
    collections["café/x y"]["documents"] = 2  # within the slack of a small count
    collections["empty"]["indexes"] = ["_id_", "gone"]
    collections["lost"] = {"documents": 5, "indexes": ["_id_"]}
    record.write_text(json.dumps(data))
    done = drill(config)
    assert done.returncode == 1
    text = line(done)
    assert "collection `orders`: 1200 came back, 1400 recorded" in text, text
    assert "collection `lost` is missing (recorded: 5)" in text, text
    assert "collection `empty`: indexes _id_ came back, _id_, gone recorded" in text, text
    assert "café" not in text


def test_a_corrupted_archive_fails_in_one_line(tmp_path: Path, source: Mongo) -> None:
    config = backup(tmp_path, source)
    archive = next((tmp_path / "backups").rglob("*.tar.zst"))
    data = bytearray(archive.read_bytes())
    data[len(data) // 2:len(data) // 2 + 32] = bytes(32)
    archive.write_bytes(bytes(data))
    done = drill(config)
    assert done.returncode == 1
    text = line(done)
    assert "FAILED after " in text and "restore failed: " in text and "does not decompress (zstd)" in text, text


def test_corrupt_bson_fails_naming_the_file(tmp_path: Path, source: Mongo) -> None:
    """An archive whose bytes are the ones recorded but whose BSON is damaged (as a faulty dump would write it):
    every document is parsed, so the drill fails."""
    config = backup(tmp_path, source, compression="none")
    archive = next((tmp_path / "backups").rglob("*.tar"))
    members = []
    with tarfile.open(archive) as tar:
        for member in tar:
            body = tar.extractfile(member).read() if member.isfile() else b""  # type: ignore[union-attr]
            if member.name == "shop/orders.bson":
                body = body[:5000] + b"\x7f" + body[5001:]  # an element type that does not exist
            members.append((member, body))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for member, body in members:
            tar.addfile(member, io.BytesIO(body) if member.isfile() else None)
    archive.write_bytes(buffer.getvalue())
    record, data = manifest(tmp_path)
    data["archives"][0].update(size=archive.stat().st_size, sha256=hashlib.sha256(buffer.getvalue()).hexdigest())
    record.write_text(json.dumps(data))
    done = drill(config)
    assert done.returncode == 1
    text = line(done)
    assert "restore failed: `shop/orders.bson`: document " in text and "is not valid BSON" in text, text


def test_checks_that_fail_and_sql_checks_are_problems(tmp_path: Path, source: Mongo) -> None:
    config = backup(tmp_path, source, checks=[{"command": "test -e shop/nothing.bson"}, {"sql": "SELECT 1"}])
    done = drill(config)
    assert done.returncode == 1
    text = line(done)
    assert "check `test -e shop/nothing.bson` failed (exit 1)" in text, text
    assert "check `SELECT 1`: an sql check needs an SQL database" in text, text


def test_a_drill_server_gets_a_scratch_database_dropped_after(tmp_path: Path, source: Mongo) -> None:
    seen = tmp_path / "seen"
    check = (f"{sys.executable} -c 'import os, pymongo; db = pymongo.MongoClient(os.environ[\"MONGODB_URI\"])"
             "[os.environ[\"CORRAL_DRILL_DATABASE\"]]; print(db.name, db.orders.count_documents({}))' > " + str(seen))
    config = backup(tmp_path, source, server=f"mongodb://{source.user}@127.0.0.1:{source.port}/",
                    checks=[{"command": check}])
    done = drill(config)
    assert done.returncode == 0, done.stdout + done.stderr
    text = line(done)
    scratch, count = seen.read_text().split()
    assert scratch.startswith("corral_drill_") and count == "1200"
    assert (f"(3 collection(s), 1,201 document(s) (restored into `{scratch}` on 127.0.0.1:{source.port}, dropped "
            "after)): passed; 1 check(s) passed") in text, text
    with pymongo.MongoClient(**source.connect_kwargs()) as client:
        assert not [name for name in client.list_database_names() if name.startswith("corral_drill_")]
        assert client.shop.orders.count_documents({}) == 1200


def test_a_failed_drill_on_a_server_still_drops_its_database(tmp_path: Path, source: Mongo) -> None:
    config = backup(tmp_path, source, server=f"127.0.0.1:{source.port}")
    record, data = manifest(tmp_path)
    data["archives"][0]["facts"]["collections"]["orders"]["documents"] = 9
    record.write_text(json.dumps(data))
    done = drill(config)
    assert done.returncode == 1 and "collection `orders`: 1200 came back, 9 recorded" in line(done)
    with pymongo.MongoClient(**source.connect_kwargs()) as client:
        assert not [name for name in client.list_database_names() if name.startswith("corral_drill_")]


def test_sigterm_mid_drill_still_drops_the_scratch_database(tmp_path: Path, source: Mongo) -> None:
    marker = tmp_path / "check-started"
    config = backup(tmp_path, source, server=f"127.0.0.1:{source.port}",
                    checks=[{"command": f"touch {marker} && exec sleep 300"}])

    def drill_databases() -> list[str]:
        with pymongo.MongoClient(**source.connect_kwargs()) as client:
            return [name for name in client.list_database_names() if name.startswith("corral_drill_")]

    def running() -> None:
        assert drill_databases(), "the scratch database exists while the check runs"

    done = sigterm_once(marker, ["drill", "mongo", "-c", str(config)], NOW, running)
    assert done.returncode == 143, done.stderr
    assert not drill_databases()
    assert not list((tmp_path / "tmp" / "mongo").iterdir())
