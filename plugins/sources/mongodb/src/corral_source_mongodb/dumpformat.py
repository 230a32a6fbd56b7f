"""mongodump's directory format, as mongodump 100.x writes it (mongo-tools ``mongodump/prepare.go`` and
``metadata_dump.go``), so that the standard ``mongorestore --dir`` restores what corral wrote.

Per database a folder ``<db>/`` holds, for each collection, ``<name>.bson`` (the documents as raw BSON, one after
the other) and ``<name>.metadata.json`` (canonical extended JSON: options, indexes, uuid, collectionName, type).
Views have only the metadata file; a time-series collection's data is its buckets collection,
``system.buckets.<name>.bson``.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import quote

from bson import SON, json_util
from bson.binary import Binary

# Go's url.PathEscape keeps letters, digits, "-_.~" and "$&+:=@"; Python's quote always keeps "-_.~".
_PATH_SAFE = "$&+:=@"
MAX_FILE_STEM = 238  # 255 bytes minus the longest extension mongodump uses (.metadata.json.gz)
_JSON = json_util.JSONOptions(json_mode=json_util.JSONMode.CANONICAL)


def file_stem(collection: str) -> str:
    """The file name (without extension) mongodump gives a collection: URL path escaping, long names hashed."""
    escaped = quote(collection, safe=_PATH_SAFE)
    if len(escaped) > MAX_FILE_STEM:
        digest = base64.urlsafe_b64encode(hashlib.sha1(collection.encode()).digest()).rstrip(b"=").decode()
        escaped = escaped[:208] + "%24" + digest
    return escaped


def skip_system_collection(database: str, collection: str) -> bool:
    """The namespaces mongodump never dumps: server-internal ``system.*`` collections and index namespaces."""
    if database == "admin":
        if collection == "system.keys":
            return True
    elif database == "config":
        if collection in {"transactions", "system.sessions", "transaction_coordinators", "system.indexBuilds",
                          "image_collection", "mongos", "system.preimages"} or collection.startswith("cache."):
            return True
    elif collection == "system.js":
        return False
    elif collection.startswith("system."):
        return True
    return "$" in collection and ".oplog.$" not in collection


def collection_uuid(info: dict[str, Any]) -> str:
    """The collection's UUID as mongodump writes it (lowercase hex, no dashes), or "" when the server has none."""
    uuid = (info.get("info") or {}).get("uuid")
    if isinstance(uuid, Binary) and uuid.subtype == 4:
        return bytes(uuid).hex()
    return ""


def metadata_json(info: dict[str, Any], indexes: list[dict[str, Any]]) -> bytes:
    """The ``.metadata.json`` of one collection from its ``listCollections`` entry and ``listIndexes`` output.

    Field order and omissions follow mongodump's ``Metadata`` struct: ``options`` only when not empty, ``uuid`` and
    ``type`` only when known; compact canonical extended JSON in UTF-8.
    """
    meta: SON[str, Any] = SON()
    options = info.get("options") or {}
    if options:
        meta["options"] = options
    meta["indexes"] = indexes
    uuid = collection_uuid(info)
    if uuid:
        meta["uuid"] = uuid
    meta["collectionName"] = info["name"]
    if info.get("type"):
        meta["type"] = info["type"]
    text = json_util.dumps(meta, json_options=_JSON, separators=(",", ":"), ensure_ascii=False)
    return text.encode()


def is_view(info: dict[str, Any]) -> bool:
    return info.get("type") == "view"


def is_timeseries(info: dict[str, Any]) -> bool:
    return info.get("type") == "timeseries"
