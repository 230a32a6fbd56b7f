"""``corral restore`` of a ``mongodb`` job, from a real ``corral start`` backup, into a server over the wire protocol
(collections with their options, documents, indexes, views), never over a database with collections without
``--force``; ``--to`` gives mongorestore's folder; ``--date``, ``--dry-run``, a damaged archive, an encrypted one."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymongo
import pytest
from bson import SON, Binary
from mongodb_testkit import FUTURE, every_bson_type, mongo_job, mongo_source, snapshot
from mongorestore_dir import restore_directory

from corral.testing.cli import corral, write_main
from corral_testservers import Mongo, start_mongo

DAY1, DAY2 = "2026-01-30T03:00:00", "2026-01-31T03:00:00"


def load_shop(client: pymongo.MongoClient[Any]) -> None:
    shop = client.shop
    shop.orders.insert_many([every_bson_type(i) for i in range(300)])
    shop.orders.create_index([("customer", 1), ("created", -1)], unique=True, name="customer_created")
    shop.orders.create_index("created", expireAfterSeconds=3600)
    shop.orders.create_index("score", partialFilterExpression={"score": {"$gt": 5}}, name="high_scores")
    shop.create_collection("events", capped=True, size=64 * 1024, max=100)
    shop.events.insert_many([{"n": n, "at": FUTURE} for n in range(120)])
    shop.create_collection("validated", validator={"$jsonSchema": {"required": ["name"]}}, validationLevel="moderate")
    shop.validated.insert_one({"name": "ok"})
    shop.big.insert_many([{"_id": n, "blob": Binary(bytes([n]) * (3 << 20))} for n in range(3)])  # > one batch
    shop.create_collection("empty")
    shop.command(SON([("create", "high"), ("viewOn", "orders"), ("pipeline", [{"$match": {"score": 9}}])]))
    shop["café/x y"].insert_one({"_id": "ünï", "nested": {"a": [1, {"b": None}]}})


@pytest.fixture
def source(server_tmp_path: Path) -> Iterator[Mongo]:
    with start_mongo(server_tmp_path / "source") as server, pymongo.MongoClient(**server.connect_kwargs()) as client:
        load_shop(client)
        yield server


def backup(tmp_path: Path, server: Mongo, now: str = DAY2, **main: Any) -> Path:
    config = write_main(tmp_path, [mongo_job("mongo", [mongo_source(server, compression="zstd")],
                                             tmp_path / "backups")], **main)
    done = corral("start", "-c", str(config), env={"CORRAL_NOW": now})
    assert done.returncode == 0, done.stderr
    return config


def restore(config: Path, *args: str, target: str = "shop") -> subprocess.CompletedProcess[str]:
    return corral("restore", "mongo", "--target", target, *args, "-c", str(config))


def test_as_a_new_database_brings_back_collections_options_documents_and_indexes(tmp_path: Path,
                                                                                  source: Mongo) -> None:
    config = backup(tmp_path, source)
    done = restore(config, "--into", f"mongodb://{source.user}@127.0.0.1:{source.port}/", "--as", "shop_copy")
    assert done.returncode == 0, done.stderr
    assert (f"restored 6 collection(s), 1 view(s) and 425 document(s) of `{next(tmp_path.rglob('*.tar.zst'))}` "
            f"into database `shop_copy` on 127.0.0.1:{source.port}") in done.stdout
    with pymongo.MongoClient(**source.connect_kwargs()) as client:
        restored, original = snapshot(client, "shop_copy"), snapshot(client, "shop")
        assert set(restored) == set(original)
        for name in original:
            assert restored[name] == original[name], name
        assert restored["events"]["options"] == {"capped": True, "size": 64 * 1024, "max": 100}
        assert restored["orders"]["indexes"]["customer_created"]["unique"] is True


def test_a_database_with_collections_is_refused_then_replaced_with_force(tmp_path: Path, source: Mongo) -> None:
    config = backup(tmp_path, source)
    with pymongo.MongoClient(**source.connect_kwargs()) as client:
        before = snapshot(client, "shop")
        client.shop.orders.insert_one({"written": "after the backup"})
        client.shop.extra.insert_one({"x": 1})
        done = restore(config)
        assert done.returncode == 2
        assert done.stderr == (f"corral: error: database `shop` on 127.0.0.1:{source.port} holds 8 collection(s): "
                               "restoring would mix the backup into it; use --force to drop it first\n")
        assert client.shop.extra.count_documents({}) == 1

        done = restore(config, "--force")
        assert done.returncode == 0, done.stderr
        assert f"dropped database `shop` on 127.0.0.1:{source.port} (--force): 8 collection(s)" in done.stdout
        assert snapshot(client, "shop") == before


def test_date_picks_the_backup_of_that_day(tmp_path: Path, source: Mongo) -> None:
    with pymongo.MongoClient(**source.connect_kwargs()) as client:
        client.shop.version.insert_one({"v": 1})
        config = backup(tmp_path, source, DAY1)
        client.shop.version.update_one({}, {"$set": {"v": 2}})
        backup(tmp_path, source, DAY2)
        assert restore(config, "--date", "2026-01-30", "--as", "old").returncode == 0
        assert restore(config, "--as", "new").returncode == 0
        assert client.old.version.find_one()["v"] == 1 and client.new.version.find_one()["v"] == 2


def test_dry_run_says_the_plan_and_changes_nothing(tmp_path: Path, source: Mongo) -> None:
    config = backup(tmp_path, source)
    with pymongo.MongoClient(**source.connect_kwargs()) as client:
        client.shop.extra.insert_one({"x": 1})
        before = snapshot(client, "shop")
        done = restore(config, "--force", "--dry-run")
        assert done.returncode == 0, done.stderr
        assert f"would drop database `shop` on 127.0.0.1:{source.port} (8 collections), then restore" in done.stdout
        assert snapshot(client, "shop") == before
    done = restore(config, "--dry-run", "--to", str(tmp_path / "out"))
    assert done.returncode == 0 and "would extract" in done.stdout, done.stderr
    assert not (tmp_path / "out").exists()


def test_to_a_folder_gives_mongorestores_layout(tmp_path: Path, source: Mongo, fresh_mongo: Mongo) -> None:
    config = backup(tmp_path, source)
    done = restore(config, "--to", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert f"mongorestore --dir {tmp_path / 'out'}" in done.stdout
    assert (tmp_path / "out" / "shop" / "orders.bson").is_file()
    assert (tmp_path / "out" / "shop" / "caf%C3%A9%2Fx%20y.metadata.json").is_file()
    with (pymongo.MongoClient(**fresh_mongo.connect_kwargs()) as target,
          pymongo.MongoClient(**source.connect_kwargs()) as origin):
        restore_directory(target, tmp_path / "out")
        assert snapshot(target, "shop") == snapshot(origin, "shop")


def test_a_password_in_into_is_refused(tmp_path: Path, source: Mongo) -> None:
    config = backup(tmp_path, source)
    done = restore(config, "--into", f"mongodb://{source.user}:{source.password}@127.0.0.1:{source.port}/",
                   "--as", "x")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1  # a bad command line, refused by the core
    assert "--into holds a password" in done.stderr and source.password not in done.stderr


def test_a_damaged_archive_fails_in_one_line_and_changes_nothing(tmp_path: Path, source: Mongo) -> None:
    config = backup(tmp_path, source)
    archive = next((tmp_path / "backups").rglob("shop_*.tar.zst"))
    data = bytearray(archive.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)
    archive.write_bytes(bytes(data))
    done = restore(config, "--as", "broken")
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1 and "read back is not what was stored" in done.stderr, done.stderr
    done = restore(config, "--as", "broken", "--no-verify")  # without the manifest's proof the codec refuses it
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1 and "does not decompress (zstd)" in done.stderr, done.stderr
    with pymongo.MongoClient(**source.connect_kwargs()) as client:
        assert "broken" not in client.list_database_names()
    for proof in ((), ("--no-verify",)):
        done = restore(config, "--to", str(tmp_path / "out"), *proof)
        assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr
        assert list((tmp_path / "out").iterdir()) == []  # nothing half-extracted


def test_an_encrypted_archive_restores_with_the_identity(tmp_path: Path, source: Mongo) -> None:
    identity = tmp_path / "key.txt"
    subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
    public = subprocess.run(["age-keygen", "-y", str(identity)], check=True, capture_output=True,
                            text=True).stdout.strip()
    config = backup(tmp_path, source, encrypt={"recipients": [public]})
    assert next((tmp_path / "backups").rglob("shop_*.tar.zst.age"))
    done = restore(config, "--as", "sealed")
    assert done.returncode == 2 and "--identity" in done.stderr
    done = restore(config, "--as", "sealed", "--identity", str(identity))
    assert done.returncode == 0, done.stderr
    with pymongo.MongoClient(**source.connect_kwargs()) as client:
        assert snapshot(client, "sealed") == snapshot(client, "shop")
