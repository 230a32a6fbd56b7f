"""One database into one archive: mongodump's directory format, streamed through the compressor to the storages.

Documents are copied as the raw BSON batches the server sends (``find_raw_batches``): they are never decoded, so
every type survives byte for byte and the cost per document is close to nothing. Like mongodump without
``--oplog``, the dump reads each collection in natural order and is not a point-in-time snapshot across
collections.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any

import pymongo
from bson.codec_options import CodecOptions

from corral_source_mongodb import dumpformat
from corral_source_mongodb.tarstream import TarStream

# Batches of 1000 documents instead of the server's 16 MiB: the same speed, a third of the memory (measured).
BATCH_DOCUMENTS = 1000
# int64 values stay Int64 (and so `$numberLong`) in the metadata, as mongodump writes them.
_CODEC_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(document_class=dict, tz_aware=True)


def excluded(database: str, collection: str, patterns: list[str]) -> bool:
    """``exclude_collections``: ``db.collection`` globs; a pattern without a dot names a collection anywhere."""
    namespace = f"{database}.{collection}"
    for pattern in patterns:
        subject = namespace if "." in pattern else collection
        if fnmatch.fnmatchcase(subject, pattern):
            return True
    return False


def collections_to_dump(db: pymongo.database.Database[Any], exclude: list[str]) -> list[dict[str, Any]]:
    """``listCollections`` entries mongodump would dump, minus the user's excludes, in name order."""
    infos = [dict(info) for info in db.list_collections()
             if not dumpformat.skip_system_collection(db.name, info["name"])
             and not excluded(db.name, info["name"], exclude)]
    return sorted(infos, key=lambda info: info["name"])


def dump_database(client: pymongo.MongoClient[Any], name: str, exclude: list[str], tar: TarStream) -> int:
    """Write database ``name`` into ``tar``; returns how many collections (and views) it holds."""
    db = client.get_database(name, codec_options=_CODEC_OPTIONS)
    infos = collections_to_dump(db, exclude)
    tar.add_directory(name)
    for info in infos:
        _dump_collection(db, info, tar)
    return len(infos)


def _dump_collection(db: pymongo.database.Database[Any], info: dict[str, Any], tar: TarStream) -> None:
    name = info["name"]
    stem = dumpformat.file_stem(name)
    if dumpformat.is_view(info):
        tar.add_file(f"{db.name}/{stem}.metadata.json", dumpformat.metadata_json(info, []))
        return
    indexes = [dict(index) for index in db.get_collection(name).list_indexes()]
    source = f"system.buckets.{name}" if dumpformat.is_timeseries(info) else name
    data_stem = dumpformat.file_stem(source)
    tar.add_stream(f"{db.name}/{data_stem}.bson", _raw_documents(db.get_collection(source)))
    tar.add_file(f"{db.name}/{stem}.metadata.json", dumpformat.metadata_json(info, indexes))


def _raw_documents(collection: pymongo.collection.Collection[Any]) -> Iterator[bytes]:
    """The collection's documents as the server's raw BSON batches, concatenated (the ``.bson`` file format)."""
    with collection.find_raw_batches(batch_size=BATCH_DOCUMENTS) as cursor:
        yield from cursor
