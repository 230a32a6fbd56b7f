"""What ``mongorestore --dir DIR`` does with mongodump's directory format, re-implemented with pymongo.

No mongorestore binary can be installed on these machines (see the plugin README), so the tests restore with this
instead. It follows mongo-tools 100.x (``mongorestore/filepath.go``, ``restore.go``, ``metadata.go``) step by step:

1. every folder of DIR is a database; in it ``X.bson`` holds collection ``unescape(X)``'s documents and
   ``X.metadata.json`` its metadata; a truncated name (238 characters with ``%24``) takes the real name from the
   metadata's ``collectionName``; ``system.profile`` and (when metadata files exist) ``system.indexes`` are skipped;
2. each collection is created with ``create`` and the metadata's options, plus ``idIndex`` (the ``_id_`` index
   without ``v``, with ``ns``) and minus ``autoIndexId`` (refused by servers >= 8.2);
3. its documents are inserted from the ``.bson`` file in batches (unordered, like mongorestore's default);
   a time-series collection's ``system.buckets.X.bson`` goes to ``system.buckets.X``;
4. views (metadata only) are created after the collections they may read from;
5. then the indexes: ``createIndexes`` with every index but ``_id_``, without ``v``, with ``ns``, and
   ``ignoreUnknownIndexOptions``.

Left out, because corral never writes them: gzip-compressed member files (``--gzip``), ``--archive``, oplog
replay, users and roles (``$admin.system.users``), ``--preserveUUID`` and namespace renaming.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pymongo
from bson import SON, json_util
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

from corral_source_mongodb.restore import insert_documents

_RAW = CodecOptions(document_class=RawBSONDocument)
_METADATA = json_util.JSONOptions(json_mode=json_util.JSONMode.CANONICAL, document_class=SON)
BUCKETS = "system.buckets."


@dataclass
class Intent:
    """One collection or view to restore, as mongorestore's intent manager holds it."""

    database: str
    collection: str
    bson: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def options(self) -> SON[str, Any]:
        return SON(self.metadata.get("options") or {})

    @property
    def is_view(self) -> bool:
        return self.metadata.get("type") == "view" or "viewOn" in self.options

    @property
    def is_timeseries(self) -> bool:
        return "timeseries" in self.options

    @property
    def data_collection(self) -> str:
        return BUCKETS + self.collection if self.is_timeseries else self.collection


def _read_metadata(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    return json_util.loads(text, json_options=_METADATA) if text else {}


def _collection_name(stem: str, metadata_path: Path) -> str:
    if "%24" in stem and len(stem) == 238:
        name = _read_metadata(metadata_path).get("collectionName")
        if not name:
            raise ValueError(f"no collectionName in `{metadata_path}` for the truncated file name `{stem}`")
        return name
    return unquote(stem, errors="strict")


def read_intents(db_dir: Path) -> list[Intent]:
    """The intents of one database folder (mongorestore's ``CreateIntentsForDB``)."""
    database = db_dir.name
    files = sorted(entry for entry in db_dir.iterdir() if entry.is_file())
    uses_metadata = any(entry.name.endswith(".metadata.json") for entry in files)
    intents: dict[str, Intent] = {}
    for entry in files:
        if entry.name.endswith(".metadata.json"):
            stem = entry.name.removesuffix(".metadata.json")
            name = _collection_name(stem, entry)
            intents.setdefault(name, Intent(database, name)).metadata = _read_metadata(entry)
        elif entry.name.endswith((".bson", ".bin")):
            stem = entry.name.rsplit(".", 1)[0]
            name = _collection_name(stem, entry.with_name(stem + ".metadata.json"))
            if name == "system.profile" or (name == "system.indexes" and uses_metadata):
                continue
            name = name.removeprefix(BUCKETS)
            intents.setdefault(name, Intent(database, name)).bson = entry
    return list(intents.values())


def _create_command(intent: Intent, server_version: tuple[int, ...]) -> SON[str, Any]:
    options = intent.options
    clustered = options.get("clusteredIndex") is not None
    id_index = next((SON(ix) for ix in intent.metadata.get("indexes", []) if ix.get("name") == "_id_"), None)
    if id_index is not None and not clustered:
        id_index.pop("v", None)
        id_index["ns"] = f"{intent.database}.{intent.collection}"
        options.pop("autoIndexId", None)
        options["idIndex"] = id_index
    if "autoIndexId" in options:
        if server_version >= (8, 2):
            options.pop("autoIndexId")
        elif options["autoIndexId"] is False and intent.database != "local":
            options["autoIndexId"] = True
    command: SON[str, Any] = SON([("create", intent.collection)])
    command.update(options)
    return command


def _insert_documents(collection: pymongo.collection.Collection[Any], path: Path) -> int:
    with path.open("rb") as file:
        return insert_documents(collection, file)


def _create_indexes(db: pymongo.database.Database[Any], intent: Intent) -> None:
    indexes = []
    for index in intent.metadata.get("indexes", []):
        if list(index.get("key", {})) == ["_id"]:
            continue  # made with the collection
        spec = SON(index)
        spec.pop("v", None)
        spec["ns"] = f"{intent.database}.{intent.collection}"
        indexes.append(spec)
    if indexes:
        db.command(SON([("createIndexes", intent.collection), ("indexes", indexes),
                        ("ignoreUnknownIndexOptions", True)]))


def restore_database(client: pymongo.MongoClient[Any], db_dir: Path, *, drop: bool = False) -> dict[str, int]:
    """Restore one database folder; returns the number of documents restored per collection."""
    db = client.get_database(db_dir.name, codec_options=_RAW)
    version = tuple(int(part) for part in client.server_info()["version"].split(".")[:2])
    intents = sorted(read_intents(db_dir), key=lambda intent: (intent.is_view, intent.collection))
    existing = set(db.list_collection_names())
    restored: dict[str, int] = {}
    for intent in intents:
        if drop and intent.collection in existing and not intent.collection.startswith("system."):
            db.drop_collection(intent.collection)
            existing.discard(intent.collection)
        if intent.collection not in existing:
            db.command(_create_command(intent, version))
        restored[intent.collection] = 0
        if intent.bson is not None and not intent.is_view:
            restored[intent.collection] = _insert_documents(db.get_collection(intent.data_collection), intent.bson)
    for intent in intents:
        if not intent.is_view:
            _create_indexes(db, intent)
    return restored


def restore_directory(client: pymongo.MongoClient[Any], root: Path, *, drop: bool = False) -> dict[str, dict[str, int]]:
    """``mongorestore --dir ROOT``: every database folder under ROOT."""
    return {db_dir.name: restore_database(client, db_dir, drop=drop)
            for db_dir in sorted(root.iterdir()) if db_dir.is_dir()}
