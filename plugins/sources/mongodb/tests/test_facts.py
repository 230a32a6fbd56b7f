"""The facts a ``mongodb`` archive's manifest entry records (docs/verify.md), read by the real ``corral start`` from
what the server holds; a user allowed to dump but not to run ``dbStats`` gets a warning and the archive stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymongo
import pytest
from bson.son import SON
from mongodb_testkit import STAMP, mongo_job, mongo_source, run_corral

from corral_testservers import Mongo

DB = "facts_db"


@pytest.fixture
def facts_db(source_mongo: Mongo) -> Iterator[pymongo.database.Database[Any]]:
    with pymongo.MongoClient(**source_mongo.connect_kwargs()) as client:
        client.drop_database(DB)
        db = client[DB]
        db.a.insert_many([{"n": n} for n in range(10)])
        db.a.create_index("n", name="by_n")
        db.create_collection("b")
        db.skipme.insert_one({"skip": True})
        db.command(SON([("create", "v"), ("viewOn", "a"), ("pipeline", [])]))
        yield db
        client.drop_database(DB)


def _facts(backups: Path) -> dict[str, Any]:
    (entry,) = json.loads((backups / "mongo" / ".manifests" / f"{STAMP}.json").read_text())["archives"]
    return entry["facts"]


def test_manifest_records_what_the_server_holds(
    tmp_path: Path, source_mongo: Mongo, facts_db: pymongo.database.Database[Any]
) -> None:
    backups = tmp_path / "backups"
    source = mongo_source(source_mongo, target=[DB], exclude_collections=["skipme"])
    done = run_corral(tmp_path, [mongo_job("mongo", [source], backups)])
    assert done.returncode == 0, done.stderr
    facts = _facts(backups)
    assert facts["collections"] == {"a": {"documents": 10, "indexes": ["_id_", "by_n"]},
                                    "b": {"documents": 0, "indexes": ["_id_"]}}  # not the excluded, not the view
    assert facts["bytes"] == facts_db.command("dbStats")["dataSize"] > 0
    assert facts["server"] == facts_db.client.server_info()["version"]
    assert facts["tool"] == f"pymongo {pymongo.version}" and facts["database"] == DB
    assert "[WARNING]" not in (tmp_path / "log" / "corral.log").read_text()


def test_a_user_without_dbstats_gets_a_warning_and_the_archive_is_stored(
    tmp_path: Path, source_mongo: Mongo, facts_db: pymongo.database.Database[Any]
) -> None:
    admin = facts_db.client.admin
    admin.command("createRole", "dumpOnly", roles=[], privileges=[
        {"resource": {"cluster": True}, "actions": ["listDatabases"]},
        {"resource": {"db": DB, "collection": ""}, "actions": ["find", "listCollections", "listIndexes"]},
    ])  # fmt: skip
    admin.command("createUser", "dumper", pwd="dump-secret-1", roles=["dumpOnly"])
    try:
        backups = tmp_path / "backups"
        source = mongo_source(source_mongo, target=[DB], connect={"db_user": "dumper", "db_password": "dump-secret-1"})
        done = run_corral(tmp_path, [mongo_job("mongo", [source], backups)], secrets=["dump-secret-1"])
        assert done.returncode == 0, done.stderr
        assert (backups / "mongo" / DB / f"{DB}_{STAMP}.tar").is_file()
        log = (tmp_path / "log" / "corral.log").read_text()
        warning = next(line for line in log.splitlines() if "facts: " in line)
        assert "[WARNING]" in warning and "user `dumper` is not allowed" in warning
        facts = _facts(backups)
        assert facts["collections"]["a"]["documents"] == 10 and "bytes" not in facts
    finally:
        admin.command("dropUser", "dumper")
        admin.command("dropRole", "dumpOnly")
