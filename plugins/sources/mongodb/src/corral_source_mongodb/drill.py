"""``corral drill`` for ``mongodb``: prove the newest archive of a database holds what was recorded at dump time.

No ``mongod`` exists on most servers (nor on Debian or PyPI), so by default the drill starts no server: it reads
the archive as a stream (never copied to disk) and decodes it itself, every document of every ``.bson`` file
fully parsed with pymongo's ``bson`` and every ``.metadata.json`` read, then compares per collection the
documents with the facts (within the job's ``drill: tolerance``: the counts were the server's estimates) and the
index names exactly. A damaged document, a missing ``.bson`` file or a missing collection fails the drill.

With ``drill: server`` (a server of the ``--into`` form) the archive is restored into it as a new database
``corral_drill_<random>`` with the restore's own code, counted there (``count_documents``, ``listIndexes``), and
that database is dropped whatever happens.
"""

from __future__ import annotations

import contextlib
import secrets
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import bson
import pymongo
from bson.codec_options import CodecOptions, DatetimeConversion
from pymongo.errors import PyMongoError

from corral import DrillReport, DrillRequest, JobConfig, RestoreError, RunContext, command_check, compare_counts
from corral_source_mongodb import dumpformat
from corral_source_mongodb.connection import explain, open_client, read_auth_file
from corral_source_mongodb.options import MongoConnect
from corral_source_mongodb.restore import (
    Collection,
    _stem,
    _tar_stream,
    check_metadata_size,
    load,
    parse_metadata,
    read_metadata,
    target_server,
)

# Every document decoded as a dict (so every element is parsed and checked), dates outside Python's range kept.
_DECODE: CodecOptions[dict[str, Any]] = CodecOptions(datetime_conversion=DatetimeConversion.DATETIME_AUTO)


def drill(job: JobConfig, storage: Any, target: str, run: RunContext, request: DrillRequest) -> DrillReport:
    if request.server:
        return _in_server(job, storage, target, run, request)
    folder = request.scratch / "restored" if any(c.command for c in request.checks) else None
    found = decode(run, storage, request.archive.path, target, folder)
    env = {"CORRAL_DRILL_DIR": str(folder or request.scratch)}
    return _judge(run, request, found, "decoded; no server", env, folder or request.scratch)


# ------------------------------------------------------------------------------------------- decoding it


def decode(run: RunContext, storage: Any, path: str, database: str, folder: Path | None
           ) -> dict[str, Collection]:  # fmt: skip
    """Every collection of the archive with its documents counted, each document parsed; the files are also
    written under ``folder`` (for the ``command`` checks) when it is given."""
    counted: dict[str, int] = {}  # .bson file stem -> documents
    collections: dict[str, Collection] = {}
    folders: set[str] = set()
    with _tar_stream(run, storage, path) as tar:
        for member in tar:
            folders.add(member.name.split("/", 1)[0])
            if not (member.isfile() or member.isdir()):
                raise RestoreError(f"`{path}` holds `{member.name}`, which is no file or folder")
            metadata = _stem(member, ".metadata.json")
            if metadata is not None:
                check_metadata_size(member, path)
            with _opened(tar, member, folder) as reader:
                if reader is None:
                    continue
                stem = _stem(member, ".bson")
                if stem is not None:
                    counted[stem] = _count(reader, member.name)
                if metadata is not None:
                    collection = parse_metadata(reader, metadata)
                    collections[collection.name] = collection
    if folders - {database}:
        raise RestoreError(f"`{path}` holds folder(s) {', '.join(sorted(folders - {database}))}, not only "
                           f"database `{database}`")
    for collection in collections.values():
        stem = dumpformat.file_stem(collection.data_collection)
        if not collection.is_view and stem not in counted:
            raise RestoreError(f"`{path}` has no `{database}/{stem}.bson` for collection `{collection.name}`")
        collection.documents = counted.pop(stem, 0)
    if counted:
        raise RestoreError(f"`{path}` holds `{database}/{sorted(counted)[0]}.bson` without its metadata")
    return collections


@contextlib.contextmanager
def _opened(tar: tarfile.TarFile, member: tarfile.TarInfo, folder: Path | None) -> Iterator[IO[bytes] | None]:
    """The member's bytes from the stream, or from its copy under ``folder``; None for a folder."""
    if folder is None:
        yield tar.extractfile(member) if member.isfile() else None
        return
    tar.extract(member, folder, filter="data")
    if not member.isfile():
        yield None
        return
    with open(folder / member.name, "rb") as reader:
        yield reader


def _count(reader: IO[bytes], name: str) -> int:
    documents = 0
    try:
        for _ in bson.decode_file_iter(reader, _DECODE):
            documents += 1
    except (bson.errors.BSONError, ValueError, OverflowError, UnicodeDecodeError) as exc:
        raise RestoreError(f"`{name}`: document {documents + 1} is not valid BSON: {exc}") from None
    return documents


# ------------------------------------------------------------------------------------------ into a server


def _in_server(job: JobConfig, storage: Any, target: str, run: RunContext, request: DrillRequest
               ) -> DrillReport:  # fmt: skip
    """The archive restored into a new database on ``drill: server``, counted and checked there, then dropped."""
    assert request.server is not None
    connect = target_server(job, target, request.server)
    where = f"{connect.db_host}:{connect.db_port}"
    name = f"corral_drill_{secrets.token_hex(6)}"
    path = request.archive.path
    try:
        with open_client(connect) as client:
            collections = read_metadata(run, storage, path, target)  # the whole archive read once before the server
            try:
                request.say(f"restoring `{path}` into database `{name}` on {where}")
                load(run, storage, path, client[name], collections)
                found = _counted(client[name])
                env = {"CORRAL_DRILL_DATABASE": name, "MONGODB_URI": _uri(connect, name),
                       "CORRAL_DRILL_DIR": str(request.scratch)}
                return _judge(run, request, found, f"restored into `{name}` on {where}, dropped after", env,
                              request.scratch)
            finally:
                client.drop_database(name)
                request.say(f"dropped database `{name}` on {where}")
    except PyMongoError as exc:
        raise RestoreError(explain(exc, connect)) from None


def _counted(db: pymongo.database.Database[Any]) -> dict[str, Collection]:
    """What the server holds after the restore: each collection's exact count and index names."""
    found: dict[str, Collection] = {}
    for info in db.list_collections():
        if dumpformat.skip_system_collection(db.name, info["name"]):
            continue
        name = info["name"]
        if info.get("type") == "view":
            found[name] = Collection(name, {"type": "view"})
            continue
        indexes = [dict(index) for index in db[name].list_indexes()]
        collection = Collection(name, {"indexes": indexes})
        collection.documents = db[name].count_documents({})
        found[name] = collection
    return found


def _uri(connect: MongoConnect, database: str) -> str:
    """A URI for the checks (in their environment, never in an argument); the job's password when it has one."""
    auth = ""
    if connect.db_user:
        password = (connect.db_password.get_secret_value() if connect.db_password is not None
                    else read_auth_file(connect.auth_file) if connect.auth_file is not None else "")
        auth = f"{quote(connect.db_user, safe='')}:{quote(password, safe='')}@"
    query = f"?authSource={quote(connect.auth_db)}&directConnection=true" if auth else "?directConnection=true"
    return f"mongodb://{auth}{connect.db_host}:{connect.db_port}/{quote(database, safe='')}{query}"


# ---------------------------------------------------------------------------------------------- judging it


def _judge(run: RunContext, request: DrillRequest, found: dict[str, Collection], how: str, env: dict[str, str],
           cwd: Path) -> DrillReport:  # fmt: skip
    tables = {name: c for name, c in found.items() if not c.is_view}
    documents = sum(c.documents for c in tables.values())
    restored = f"{len(tables):,} collection(s), {documents:,} document(s) ({how})"
    problems: list[str] = []
    recorded = request.facts.get("collections")
    if isinstance(recorded, dict):
        counts = {name: (info or {}).get("documents") for name, info in recorded.items()}
        problems += compare_counts("collection", counts, {n: c.documents for n, c in tables.items()},
                                   request.tolerance)
        for name, info in sorted(recorded.items()):
            wanted = sorted((info or {}).get("indexes") or [])
            if name in tables and wanted and _index_names(tables[name]) != wanted:
                problems.append(f"collection `{name}`: indexes {', '.join(_index_names(tables[name])) or 'none'} "
                                f"came back, {', '.join(wanted)} recorded")
    passed = 0
    for check in request.checks:
        if check.sql is not None:
            problems.append(f"check `{check.sql}`: an sql check needs an SQL database (use a `command` check)")
            continue
        failure = command_check(run, check, cwd, env)
        if failure:
            problems.append(failure)
        else:
            passed += 1
    return DrillReport(restored=restored, problems=problems, checks=passed, compared=isinstance(recorded, dict))


def _index_names(collection: Collection) -> list[str]:
    return sorted(str(index.get("name")) for index in collection.metadata.get("indexes") or [])
