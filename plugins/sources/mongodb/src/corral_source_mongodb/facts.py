"""What the checksum manifest records of a database's archive (``Archive.facts``, docs/verify.md): the server's
version, the data size, and per collection the document count and the index names, so a restore drill
compares like with like.

Gathered right before the dump over the source's own connection: ``buildInfo``, then per collection dumped
(``exclude_collections`` applies, views have no documents) the metadata count (``estimated_document_count``, no
scan) and ``listIndexes``, then ``dbStats``. A time-series collection's count would scan it: it is ``null``. A
command the server refuses leaves the facts gathered so far and a warning, never a failed dump.
"""

from __future__ import annotations

from typing import Any

import pymongo
from pymongo.errors import PyMongoError

from corral_source_mongodb import dumpformat
from corral_source_mongodb.connection import explain
from corral_source_mongodb.dump import collections_to_dump
from corral_source_mongodb.options import MongoConnect


def database_facts(client: pymongo.MongoClient[Any], name: str, exclude: list[str],
                   connect: MongoConnect) -> tuple[dict[str, Any], tuple[str, ...]]:  # fmt: skip
    """``{"server", "tool", "database", "collections": {name: {"documents", "indexes"}}, "bytes"}`` and a
    warning when a command failed."""
    facts: dict[str, Any] = {"server": None, "tool": f"pymongo {pymongo.version}", "database": name}
    try:
        facts["server"] = client.server_info().get("version")
        db = client.get_database(name)
        collections: dict[str, Any] = {}
        for info in collections_to_dump(db, exclude):
            if dumpformat.is_view(info):
                continue
            collection = db.get_collection(info["name"])
            documents = None if dumpformat.is_timeseries(info) else collection.estimated_document_count()
            indexes = sorted(index["name"] for index in collection.list_indexes())
            collections[info["name"]] = {"documents": documents, "indexes": indexes}
        facts["collections"] = collections
        size = db.command("dbStats").get("dataSize")
        facts["bytes"] = int(size) if isinstance(size, int | float) else None
    except PyMongoError as exc:
        return facts, (f"facts: {explain(exc, connect)}",)
    return facts, ()
