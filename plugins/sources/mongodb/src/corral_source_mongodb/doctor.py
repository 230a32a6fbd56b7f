"""``corral doctor`` for ``mongodb``: the server reached with the job's login (pymongo, as a dump connects), its
version, the databases found, and the codec. No client program is needed: the dump is written by corral itself."""

from __future__ import annotations

from typing import Any

from pymongo.errors import PyMongoError

from corral import Check, DumpError
from corral.doctoring import codec
from corral_source_mongodb.connection import explain, open_client
from corral_source_mongodb.options import MongoSource


def check(source: MongoSource, choose: Any) -> list[Check]:
    """``choose(client, source)``: the dump's own choice of databases, as (to dump, missing)."""
    connect = source.connect
    where = f"{connect.db_host}:{connect.db_port}"
    try:
        with open_client(connect) as client:
            version = client.server_info().get("version", "?")
            chosen, missing = choose(client, source)
    except DumpError as exc:
        return [Check.fail(str(exc)), codec(source.codec_name)]
    except PyMongoError as exc:
        return [Check.fail(explain(exc, connect)), codec(source.codec_name)]
    checks = [Check.ok(f"server {version} at {where}")]
    checks += [Check.fail(f"database `{name}` does not exist on {where}") for name in missing]
    checks.append(Check.ok(f"{len(chosen)} database(s) to dump: {', '.join(chosen)}") if chosen else
                  Check.warn(f"no database to dump on {where}"))
    return [*checks, codec(source.codec_name)]
