"""The real ``corral start`` backs up the session's MongoDB server; the archives restore into a fresh server the way
``tar -xf`` + ``mongorestore --dir`` would, and every collection, index, option and document comes back."""

from __future__ import annotations

from pathlib import Path

import pymongo
import pytest
from mongodb_testkit import (
    LONG_NAME,
    STAMP,
    extract,
    mongo_job,
    mongo_source,
    run_corral,
    snapshot,
)
from mongorestore_dir import restore_directory

from corral_testservers import Mongo

DUMPED_SHOP = {"orders", "events", "big", "validated", "empty", "big_orders", "café/x y", LONG_NAME, "system.js"}


def test_every_database_comes_back_with_collections_indexes_options_and_documents(
    tmp_path: Path, source_mongo: Mongo, fresh_mongo: Mongo
) -> None:
    backups = tmp_path / "backups"
    source = mongo_source(source_mongo, compression="zstd", exclude_collections=["*.tmp_*"])
    done = run_corral(tmp_path, [mongo_job("mongo", [source], backups)], secrets=[source_mongo.password])
    assert done.returncode == 0, done.stderr

    archives = sorted(p.relative_to(backups).as_posix() for p in backups.rglob("*.tar.zst"))
    assert archives == [f"mongo/blög/blög_{STAMP}.tar.zst", f"mongo/shop/shop_{STAMP}.tar.zst"]  # not admin
    restore_root = tmp_path / "restore"
    for archive in backups.rglob("*.tar.zst"):
        extract(archive, restore_root)
    names = sorted(p.relative_to(restore_root).as_posix() for p in (restore_root / "shop").iterdir())
    assert "shop/caf%C3%A9%2Fx%20y.bson" in names and "shop/big_orders.metadata.json" in names
    assert "shop/big_orders.bson" not in names  # a view has metadata only, as with mongodump
    assert any(n.startswith("shop/events_xxx") and "%24" in n and len(n) == len("shop/") + 238 + 5 for n in names)
    assert not any("tmp_cache" in n for n in names)

    with (pymongo.MongoClient(**fresh_mongo.connect_kwargs()) as target,
          pymongo.MongoClient(**source_mongo.connect_kwargs()) as origin):
        restore_directory(target, restore_root)
        expected_shop = snapshot(origin, "shop")
        del expected_shop["tmp_cache"]
        restored_shop = snapshot(target, "shop")
        assert set(restored_shop) == DUMPED_SHOP
        for name in DUMPED_SHOP:
            assert restored_shop[name] == expected_shop[name], name
        assert restored_shop["events"]["options"] == {"capped": True, "size": 64 * 1024, "max": 100}
        assert set(restored_shop["orders"]["indexes"]) == {
            "_id_", "customer_created", "created_1", "high_scores", "sparse_field_1", "customer_fr"}
        assert snapshot(target, "blög") == snapshot(origin, "blög")


@pytest.mark.parametrize("codec", ["gzip", "none"])
def test_gzip_and_plain_tar_archives_restore_too(
    codec: str, tmp_path: Path, source_mongo: Mongo, fresh_mongo: Mongo
) -> None:
    backups = tmp_path / "backups"
    keys = {"gzip": True} if codec == "gzip" else {"compression": "none"}
    # the large-member path of every codec is covered by test_tarstream; keep this restore small
    source = mongo_source(source_mongo, target=["shop"], exclude_collections=["orders", "big", "tmp_cache"], **keys)
    done = run_corral(tmp_path, [mongo_job("mongo", [source], backups)])
    assert done.returncode == 0, done.stderr
    extension = "tar.gz" if codec == "gzip" else "tar"
    archive = backups / "mongo" / "shop" / f"shop_{STAMP}.{extension}"
    assert archive.is_file()
    with (pymongo.MongoClient(**fresh_mongo.connect_kwargs()) as target,
          pymongo.MongoClient(**source_mongo.connect_kwargs()) as origin):
        restore_directory(target, extract(archive, tmp_path / "restore"))
        expected = snapshot(origin, "shop")
        for skipped in ("orders", "big", "tmp_cache", "big_orders"):  # the view goes with the collection it reads
            expected.pop(skipped)
        restored = snapshot(target, "shop")
        restored.pop("big_orders")
        assert restored == expected


def test_user_password_can_come_from_an_auth_file(tmp_path: Path, source_mongo: Mongo) -> None:
    auth_file = tmp_path / "mongo-auth.yaml"
    auth_file.write_text(f"password: {source_mongo.password}\n")
    auth_file.chmod(0o600)
    backups = tmp_path / "backups"
    source = mongo_source(source_mongo, target=["blög"], connect={"db_password": None, "auth_file": str(auth_file)})
    done = run_corral(tmp_path, [mongo_job("mongo", [source], backups)], secrets=[source_mongo.password])
    assert done.returncode == 0, done.stderr
    assert (backups / "mongo" / "blög" / f"blög_{STAMP}.tar").is_file()
