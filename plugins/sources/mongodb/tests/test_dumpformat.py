"""File names and metadata exactly as mongodump 100.x writes them (vectors from mongo-tools' own test data)."""

from __future__ import annotations

import json

from bson import Binary, Int64

from corral_source_mongodb.dump import excluded
from corral_source_mongodb.dumpformat import file_stem, metadata_json, skip_system_collection

# mongo-tools mongorestore/testdata/longcollectionname/db1/: a 247-character name and the file mongodump made.
LONG = "aVery" + "Very" * 43 + "LongCollectionNameConsistingOfExactlyTwoHundredAndFortySevenCharacters"
LONG_STEM = "aVery" + "Very" * 43 + "LongCollectionNameConsistingOfE%24xFO0VquRn7cg3QooSZD5sglTddU"


def test_file_names_are_go_path_escaped_and_long_ones_hashed() -> None:
    assert file_stem("cafés") == "caf%C3%A9s"  # mongorestore/testdata/specialcharacter/db1/caf%C3%A9s.bson
    assert file_stem("a b/c;d,e?f$g&h+i:j=k@l~m-n_o.p") == "a%20b%2Fc%3Bd%2Ce%3Ff$g&h+i:j=k@l~m-n_o.p"
    assert len(LONG) == 247
    assert file_stem(LONG) == LONG_STEM
    assert file_stem("x" * 238) == "x" * 238


def test_metadata_is_compact_canonical_extended_json_in_mongodump_field_order() -> None:
    uuid = bytes.fromhex("ee3534fe9545406f90406b246dde420d")
    info = {"name": "events", "type": "collection", "options": {"capped": True, "size": Int64(4096), "max": 10},
            "info": {"readOnly": False, "uuid": Binary(uuid, 4)}}
    indexes = [{"v": 2, "key": {"_id": 1}, "name": "_id_"},
               {"v": 2, "key": {"at": 1.0}, "name": "at_1", "expireAfterSeconds": 3600}]
    assert metadata_json(info, indexes) == (
        b'{"options":{"capped":true,"size":{"$numberLong":"4096"},"max":{"$numberInt":"10"}},'
        b'"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"},'
        b'{"v":{"$numberInt":"2"},"key":{"at":{"$numberDouble":"1.0"}},"name":"at_1",'
        b'"expireAfterSeconds":{"$numberInt":"3600"}}],'
        b'"uuid":"ee3534fe9545406f90406b246dde420d","collectionName":"events","type":"collection"}'
    )
    # The long-name vector: empty options are left out, the real name travels in collectionName.
    plain = metadata_json({"name": LONG, "options": {}, "info": {"uuid": Binary(uuid, 4)}},
                          [{"v": 2, "key": {"_id": 1}, "name": "_id_"}])
    assert json.loads(plain) == {"indexes": [{"v": {"$numberInt": "2"}, "key": {"_id": {"$numberInt": "1"}},
                                              "name": "_id_"}],
                                 "uuid": "ee3534fe9545406f90406b246dde420d", "collectionName": LONG}
    assert "ü".encode() in metadata_json({"name": "ü", "options": {}}, [])  # UTF-8, not \u escapes


def test_system_collections_are_skipped_like_mongodump() -> None:
    assert skip_system_collection("app", "system.views")
    assert skip_system_collection("app", "system.profile")
    assert not skip_system_collection("app", "system.js")
    assert not skip_system_collection("admin", "system.users")
    assert skip_system_collection("admin", "system.keys")
    assert skip_system_collection("config", "cache.chunks.app.x")
    assert skip_system_collection("app", "x.$_id_")
    assert not skip_system_collection("app", "orders")


def test_exclude_collections_patterns() -> None:
    assert excluded("shop", "tmp_cache", ["*.tmp_*"])
    assert excluded("shop", "sessions", ["sessions"])
    assert excluded("blog", "sessions", ["sessions"])
    assert not excluded("shop", "sessions", ["blog.sessions"])
    assert excluded("shop", "a.b", ["shop.a.b"])
    assert not excluded("shop", "orders", ["*.tmp_*", "sessions"])
