"""Helpers of the MongoDB tests: awkward data, running the real ``corral`` command, comparing databases."""

from __future__ import annotations

import datetime
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pymongo
from bson import SON, Binary, Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

from corral.testing.cli import corral, local_storage, write_main
from corral_testservers import Mongo

NOW = "2026-01-31T03:00:00"
STAMP = "2026-01-31_03-00-00"
LONG_NAME = "events_" + "x" * 240  # a file name mongodump truncates and hashes
FUTURE = datetime.datetime(2099, 1, 1, tzinfo=datetime.UTC)  # TTL indexes must not expire the test data


def every_bson_type(i: int) -> dict[str, Any]:
    return {
        "i": i, "i64": Int64(2**40 + i), "double": i / 3, "decimal": Decimal128(f"{i}.10"), "flag": i % 2 == 0,
        "none": None, "when": datetime.datetime(2030, 1, 1, 12, 0, 0, 123000), "regex": Regex("^a.*", "im"),
        "bin": Binary(bytes(range(256)) * 2), "uuid": Binary(os.urandom(16), 4), "user_bin": Binary(b"\x00x", 128),
        "code": Code("function () { return 1 }"), "code_scope": Code("f", {"x": i}), "min": MinKey(), "max": MaxKey(),
        "ts": Timestamp(1_700_000_000, i % 7 + 1), "array": [1, "a", [2, [3]], {"z": None}], "oid": ObjectId(),
        "text": "漢字 🎉 שלום café \u202e \x00 inside", "nested": {"deep": {"er": {"est": ["ünï", "\t\n"]}}},
        "customer": f"c{i % 50}", "created": FUTURE + datetime.timedelta(seconds=i), "score": i % 10,
    }  # fmt: skip


def load_awkward_data(client: pymongo.MongoClient[Any]) -> None:
    """Two databases (one with a unicode name) full of things a dump tool gets wrong."""
    shop = client.shop
    shop.orders.insert_many([every_bson_type(i) for i in range(1000)])
    shop.orders.create_index([("customer", 1), ("created", -1)], unique=True, name="customer_created")
    shop.orders.create_index("created", expireAfterSeconds=3600)
    shop.orders.create_index("score", partialFilterExpression={"score": {"$gt": 5}}, name="high_scores")
    shop.orders.create_index("sparse_field", sparse=True)
    shop.orders.create_index("customer", collation={"locale": "fr", "strength": 1}, name="customer_fr")
    shop.create_collection("events", capped=True, size=64 * 1024, max=100)
    shop.events.insert_many([{"n": n, "pad": "e" * 100} for n in range(150)])
    shop.big.insert_many([{"_id": 1, "blob": Binary(os.urandom(15 << 20))}, {"_id": 2, "blob": os.urandom(3 << 20)}])
    shop.create_collection("validated", validator={"$jsonSchema": {"required": ["name"]}}, validationLevel="moderate")
    shop.validated.insert_one({"name": "ok"})
    shop.create_collection("empty")
    shop.command(SON([("create", "big_orders"), ("viewOn", "orders"), ("pipeline", [{"$match": {"score": 9}}])]))
    shop["café/x y"].insert_one({"_id": "ünï", "v": 1})
    shop[LONG_NAME].insert_one({"long": True})
    shop["system.js"].insert_one({"_id": "double", "value": Code("function (x) { return 2 * x }")})
    shop.tmp_cache.insert_one({"skip": "me"})
    blog = client["blög"]
    blog.posts.insert_many([{"title": f"post {n}", "body": "ü" * n} for n in range(100)])
    blog.posts.create_index([("title", 1)], unique=True)




# ----------------------------------------------------------------------------------------------- comparing

_RAW = CodecOptions(document_class=RawBSONDocument)


def _index_shape(index: dict[str, Any]) -> tuple[str, Any]:
    spec = {k: v for k, v in index.items() if k not in {"v", "ns"}}
    return spec["name"], spec


def snapshot(client: pymongo.MongoClient[Any], database: str) -> dict[str, Any]:
    """Everything a restore must bring back: per collection its type, options, indexes and raw documents."""
    db = client.get_database(database, codec_options=_RAW)
    result: dict[str, Any] = {}
    for info in client[database].list_collections():
        name = info["name"]
        entry: dict[str, Any] = {"type": info.get("type"), "options": info.get("options", {})}
        if info.get("type") != "view":
            entry["indexes"] = dict(_index_shape(ix) for ix in client[database][name].list_indexes())
            entry["documents"] = [doc.raw for doc in db[name].find()]  # natural order, byte for byte
        result[name] = entry
    return result


# ---------------------------------------------------------------------------------------------- running


def mongo_source(server: Mongo, **keys: Any) -> dict[str, Any]:
    connect = {"db_host": server.host, "db_port": server.port, "db_user": server.user,
               "db_password": server.password}
    connect.update(keys.pop("connect", {}))
    return {"connect": connect, "target": ["all"], **keys}


def mongo_job(name: str, sources: list[dict[str, Any]], backups: Path) -> dict[str, Any]:
    return {"job": name, "type": "mongodb", "sources": sources, "storages": [local_storage(backups)]}


def run_corral(tmp_path: Path, jobs: list[dict[str, Any]], secrets: list[str] = ()) -> subprocess.CompletedProcess[str]:
    """``corral start`` on these jobs; fails the test if a secret shows up in any process's arguments."""
    main = write_main(tmp_path, jobs)
    with ArgvWatch(secrets) as watch:
        done = corral("start", "-c", str(main), env={"CORRAL_NOW": NOW})
    assert not watch.leaks, f"a secret appeared in process arguments: {watch.leaks}"
    return done


def extract(archive: Path, into: Path) -> Path:
    """``tar -xf`` as a person would run it (GNU tar detects gzip and zstd itself)."""
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-xf", str(archive), "-C", str(into)], check=True, capture_output=True)
    return into


class ArgvWatch:
    """Samples every process's command line (what `ps` shows) while a block runs."""

    def __init__(self, secrets: list[str] | tuple[str, ...]) -> None:
        self.secrets = [s for s in secrets if s]
        self.leaks: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ArgvWatch:
        if self.secrets:
            self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.samples += 1
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                self.leaks += [args for secret in self.secrets if secret in args]
            self._stop.wait(0.02)


