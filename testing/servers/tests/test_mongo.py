from typing import Any

import pymongo
import pytest
from pymongo.errors import OperationFailure

from corral_testservers import Mongo

Client = pymongo.MongoClient[dict[str, Any]]


def test_mongo_write_read_with_auth(mongo_server: Mongo) -> None:
    client: Client = pymongo.MongoClient(mongo_server.url, serverSelectionTimeoutMS=5000)
    with client:
        client.harness_smoke.orders.insert_many([{"i": i} for i in range(10)])
        assert client.harness_smoke.orders.count_documents({"i": {"$gte": 5}}) == 5
    client = pymongo.MongoClient(**mongo_server.connect_kwargs())
    with client:
        found = client.harness_smoke.orders.find_one({"i": 3})
        assert found is not None and found["i"] == 3
    anonymous: Client = pymongo.MongoClient(mongo_server.host, mongo_server.port, directConnection=True)
    with anonymous, pytest.raises(OperationFailure):
        anonymous.harness_smoke.orders.find_one()
