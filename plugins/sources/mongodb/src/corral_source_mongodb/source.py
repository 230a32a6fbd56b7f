"""The ``mongodb`` job type: one archive per database, a tar of mongodump's directory format, streamed to every
storage (nothing of it in tmp_dir but a large collection, compressed, while it is spilled: see tarstream).

Restore: ``tar -xf ARCHIVE -C DIR`` then ``mongorestore --dir DIR`` (see the README).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymongo
from pymongo.errors import PyMongoError

from corral import (
    DrillReport,
    DrillRequest,
    DumpError,
    DumpFailure,
    DumpResult,
    Ended,
    JobConfig,
    RestoreRequest,
    RunContext,
    SourceSchema,
    hookimpl,
    with_compressions,
)
from corral_source_mongodb.compression import Codec, codec
from corral_source_mongodb.connection import explain, open_client
from corral_source_mongodb.dump import dump_database
from corral_source_mongodb.facts import database_facts
from corral_source_mongodb.options import MongoSource
from corral_source_mongodb.tarstream import ArchiveError, ArchiveStream


@hookimpl
def corral_source_schema() -> SourceSchema:
    return SourceSchema(source=MongoSource, group="databases", extensions=with_compressions("tar"))


def databases_to_dump(client: pymongo.MongoClient[Any], source: MongoSource) -> tuple[list[str], list[str]]:
    """(databases to dump, named targets that do not exist). ``all`` is every database minus ``excludes``."""
    present = client.list_database_names()
    wanted: list[str] = []
    missing: list[str] = []
    for target in source.target:
        if target == "all":
            wanted += [name for name in sorted(present) if name not in source.excludes]
        elif target in present:
            wanted.append(target)
        else:
            missing.append(target)
    return list(dict.fromkeys(wanted)), missing


@hookimpl
def corral_source_dump(source: MongoSource, tmp_dir: Path, run: RunContext, job: JobConfig) -> Iterator[DumpResult]:
    chosen = codec(source.codec_name)
    if chosen.program and shutil.which(chosen.program) is None:
        raise DumpError(f"`{chosen.program}` is not installed (apt install {chosen.program})")
    connect = source.connect
    try:
        with open_client(connect) as client:
            try:
                databases, missing = databases_to_dump(client, source)
            except PyMongoError as exc:
                raise DumpError(explain(exc, connect)) from None
            for name in missing:
                yield DumpFailure(name, f"database `{name}` does not exist on {connect.db_host}:{connect.db_port}")
            for name in databases:
                yield from _stream(client, name, source, chosen, tmp_dir, run)
    except PyMongoError as exc:  # closing the client, or a config pymongo rejects
        raise DumpError(explain(exc, connect)) from None


def _stream(client: pymongo.MongoClient[Any], name: str, source: MongoSource, chosen: Codec, tmp_dir: Path,
            run: RunContext) -> Iterator[DumpResult]:  # fmt: skip
    """One database as a stream to every storage: the dump runs in a thread while the core reads the archive."""
    known, warnings = database_facts(client, name, source.exclude_collections, source.connect)
    collections: list[int] = []
    try:
        archive = ArchiveStream(chosen, run, tmp_dir, lambda tar: collections.append(
            dump_database(client, name, source.exclude_collections, tar)))
    except ArchiveError as exc:
        yield DumpFailure(name, explain(exc, source.connect))
        return

    def check(ended: Ended) -> tuple[str, ...]:
        try:
            archive.finish()
        except (PyMongoError, ArchiveError, OSError) as exc:
            raise DumpError(explain(exc, source.connect)) from None
        run.log.info("database %s: %d collection(s) dumped", name, collections[0])
        return warnings

    yield from archive.pipe.archive(name, chosen.extension, check=check, facts=known)


@hookimpl
def corral_source_restore(job: JobConfig, storage: Any, target: str, run: RunContext,
                          request: RestoreRequest) -> list[str]:
    """Into a server with pymongo, as mongorestore would (``--into``, ``--as``); ``--to DIR``: the archive
    extracted for mongorestore (see :mod:`corral_source_mongodb.restore`)."""
    from corral_source_mongodb.restore import restore

    return restore(job, storage, target, run, request)


@hookimpl
def corral_source_drill(job: JobConfig, storage: Any, target: str, run: RunContext,
                        request: DrillRequest) -> DrillReport:
    """The archive decoded document by document (no server needed), or restored into the job's ``drill: server``
    as a scratch database dropped after; compared with the facts (see :mod:`corral_source_mongodb.drill`)."""
    from corral_source_mongodb.drill import drill

    return drill(job, storage, target, run, request)


@hookimpl
def corral_source_doctor(source: MongoSource) -> list[Any]:
    """``corral doctor``: the server, its version and the databases, the codec (see :mod:`.doctor`)."""
    from corral_source_mongodb.doctor import check

    return check(source, databases_to_dump)
