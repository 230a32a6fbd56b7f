"""``corral restore`` for ``mongodb``: what ``mongorestore --dir`` does with the archive's directory format, done
with pymongo over the wire protocol (no mongorestore needed), or (``--to DIR``) the folder for mongorestore.

The archive is read twice as a stream, never copied to local disk. The first pass reads the metadata files (each
collection's ``.metadata.json`` follows its ``.bson`` in the tar, and a collection's options must be known before
it is created) and proves the whole archive decompresses (and decrypts) before anything on the server changes.
The second pass creates the collections with their options and ``_id`` index, inserts the documents as raw BSON in
unordered batches (at most :data:`BATCH_DOCUMENTS` documents or :data:`BATCH_BYTES` in memory), then creates
the views and the other indexes, as mongorestore does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, cast
from urllib.parse import unquote

import bson
import pymongo
from bson import SON, json_util
from bson.codec_options import CodecOptions
from bson.errors import BSONError
from bson.raw_bson import RawBSONDocument
from pymongo import uri_parser
from pymongo.errors import ConfigurationError, InvalidURI, PyMongoError

from corral import (
    CorralError,
    Interrupted,
    JobConfig,
    RestoreError,
    RestoreRequest,
    RunContext,
    decompressor,
    human_size,
    interruptible,
    shielded,
)
from corral.pump import Pump
from corral_source_mongodb import dumpformat
from corral_source_mongodb.connection import explain, open_client
from corral_source_mongodb.options import MongoConnect, MongoSource

BATCH_DOCUMENTS = 1000  # mongorestore's --batchSize default
BATCH_BYTES = 16 << 20
METADATA_BYTES = 16 << 20  # a collection's .metadata.json; mongodump's are a few KB
BUCKETS = "system.buckets."
_RAW = CodecOptions(document_class=RawBSONDocument)
_METADATA = json_util.JSONOptions(json_mode=json_util.JSONMode.CANONICAL, document_class=SON)


class Refused(RestoreError):
    """The database holds collections and ``--force`` was not given: nothing was changed (exit 2)."""

    exit_code = 2


@dataclass
class Collection:
    """One collection or view of the archive, from its metadata file."""

    name: str
    metadata: dict[str, Any] = field(default_factory=dict)
    documents: int = 0

    @property
    def options(self) -> SON[str, Any]:
        return SON(self.metadata.get("options") or {})

    @property
    def is_view(self) -> bool:
        return self.metadata.get("type") == "view" or "viewOn" in self.options

    @property
    def data_collection(self) -> str:
        return BUCKETS + self.name if "timeseries" in self.options else self.name


def restore(job: JobConfig, storage: Any, target: str, run: RunContext, request: RestoreRequest) -> list[str]:
    path = request.archive.path
    if request.to is not None:
        if request.dry_run:
            request.say(f"would extract `{path}` ({human_size(request.archive.size)}) into `{request.to}` "
                        "(mongodump's folder layout)")
            return [path]
        files = extract(run, storage, path, request.to)
        request.say(f"extracted `{path}` into `{request.to}` ({files} files); restore it with "
                    f"`mongorestore --dir {request.to}`")
        return [path]
    connect = target_server(job, target, request.into)
    where = f"{connect.db_host}:{connect.db_port}"
    name = request.as_name or target
    try:
        with open_client(connect) as client:
            held = client[name].list_collection_names()
            if held and not request.force:
                raise Refused(f"database `{name}` on {where} holds {len(held)} collection(s): restoring would mix "
                              "the backup into it; use --force to drop it first")
            if request.dry_run:
                drop = f"drop database `{name}` on {where} ({len(held)} collections), then " if held else ""
                request.say(f"would {drop}restore `{path}` ({human_size(request.archive.size)}) into database "
                            f"`{name}` on {where}")
                return [path]
            started = time.monotonic()
            collections = read_metadata(run, storage, path, target)
            if held:
                client.drop_database(name)
                request.say(f"dropped database `{name}` on {where} (--force): {len(held)} collection(s)")
            with interruptible(run):  # SIGTERM and Ctrl-C from here on unwind through the drop
                _load_or_drop(run, storage, path, client[name], collections, connect, request)
    except PyMongoError as exc:
        raise RestoreError(explain(exc, connect)) from None
    views = sum(1 for c in collections.values() if c.is_view)
    documents = sum(c.documents for c in collections.values())
    request.say(f"restored {len(collections) - views} collection(s), {views} view(s) and {documents} document(s) "
                f"of `{path}` into database `{name}` on {where} in {time.monotonic() - started:.1f} s")
    return [path]


# -------------------------------------------------------------------------------------------------- the server


def target_server(job: JobConfig, target: str, into: str | None) -> MongoConnect:
    """``--into`` as a connection. None: the job's source that dumps ``target``. ``mongodb://[USER@]HOST[:PORT]``
    (or ``HOST[:PORT]``): the password is the job's, for a source with the same host and port (and user, when
    the URI names one). A URI with a password is refused: it would show in the process list."""
    sources = [cast(MongoSource, s) for s in job.sources]
    if into is None:
        owner = next((s for s in sources if target in s.target or ("all" in s.target and target not in s.excludes)),
                     sources[0])
        return owner.connect
    uri = into if into.startswith(("mongodb://", "mongodb+srv://")) else f"mongodb://{into}"
    try:
        parsed = uri_parser.parse_uri(uri, warn=True)
    except (InvalidURI, ConfigurationError, ValueError) as exc:
        raise RestoreError(f"--into `{into}` is not a mongodb:// URI: {exc}") from None
    if parsed.get("password"):
        raise RestoreError("--into holds a password, which shows in the process list: give the URI without it "
                           "(corral takes the job's password for the same user and host)")
    host, port = parsed["nodelist"][0]
    user = parsed.get("username")
    same = [s.connect for s in sources if (s.connect.db_host, s.connect.db_port) == (host, port)
            and (user is None or s.connect.db_user == user)]
    if same:
        return same[0]
    if user:
        raise RestoreError(f"no password for user `{user}` on {host}:{port} in job `{job.name}`: restore into a "
                           "server the job backs up, or give --into without a user")
    return MongoConnect(db_host=host, db_port=port)


def _load_or_drop(run: RunContext, storage: Any, path: str, db: pymongo.database.Database[Any],
                  collections: dict[str, Collection], connect: MongoConnect, request: RestoreRequest
                  ) -> None:  # fmt: skip
    """:func:`load`; the database (empty or dropped by ``--force`` before: ours) is dropped again when the load
    fails or is stopped."""
    where = f"database `{db.name}` on {connect.db_host}:{connect.db_port}"
    try:
        load(run, storage, path, db, collections)
    except BaseException as exc:
        with shielded():
            try:
                db.client.drop_database(db.name)
            except PyMongoError as dropping:
                raise RestoreError(f"{where} is half-loaded and could not be dropped: "
                                   f"{explain(dropping, connect)}") from None
        if isinstance(exc, PyMongoError):
            raise RestoreError(f"{where}: {explain(exc, connect)}; dropped the half-loaded database") from None
        if isinstance(exc, CorralError) and not isinstance(exc, Interrupted):  # its class kept: its exit code
            exc.args = (f"{where}: {exc}; dropped the half-loaded database",)
            raise
        stopped = isinstance(exc, (Interrupted, KeyboardInterrupt))
        request.say(f"{'stopped' if stopped else 'failed'}: dropped the half-loaded {where}")
        raise


def load(run: RunContext, storage: Any, path: str, db: pymongo.database.Database[Any],
         collections: dict[str, Collection]) -> None:  # fmt: skip
    """mongorestore's order: collections (options, ``_id`` index), their documents, views, then the indexes."""
    version = tuple(int(part) for part in db.client.server_info()["version"].split(".")[:2])
    tables = [c for c in collections.values() if not c.is_view]
    for collection in tables:
        db.command(_create_command(db.name, collection, version))
    by_file = {dumpformat.file_stem(c.data_collection): c for c in tables}
    raw = db.with_options(codec_options=_RAW)
    with _tar_stream(run, storage, path) as tar:
        for member in tar:
            stem = _stem(member, ".bson")
            if stem is None or stem not in by_file:
                continue
            reader = tar.extractfile(member)
            assert reader is not None
            collection = by_file[stem]
            collection.documents = insert_documents(raw.get_collection(collection.data_collection), reader)
    for collection in collections.values():
        if collection.is_view:
            db.command(_create_command(db.name, collection, version))
    for collection in tables:
        indexes = [SON((k, v) for k, v in index.items() if k not in {"v", "ns"})
                   for index in collection.metadata.get("indexes", []) if list(index.get("key", {})) != ["_id"]]
        if indexes:
            db.command(SON([("createIndexes", collection.name), ("indexes", indexes),
                            ("ignoreUnknownIndexOptions", True)]))


def _create_command(database: str, collection: Collection, version: tuple[int, ...]) -> SON[str, Any]:
    options = collection.options
    options.pop("autoIndexId", None)  # refused by servers >= 8.2; the _id index comes from idIndex
    if options.get("clusteredIndex") is None and not collection.is_view:
        id_index = next((ix for ix in collection.metadata.get("indexes", []) if ix.get("name") == "_id_"), None)
        if id_index is not None:
            options["idIndex"] = SON((k, v) for k, v in id_index.items() if k not in {"v", "ns"})
            if version < (4, 4):
                options["idIndex"]["ns"] = f"{database}.{collection.name}"
    command: SON[str, Any] = SON([("create", collection.name)])
    command.update(options)
    return command


def insert_documents(collection: pymongo.collection.Collection[Any], reader: IO[bytes]) -> int:
    """A ``.bson`` file's documents, unchanged, in unordered batches (mongorestore's default); how many."""
    count = 0
    batch: list[RawBSONDocument] = []
    size = 0
    for document in bson.decode_file_iter(reader, _RAW):
        batch.append(document)
        size += len(document.raw)
        if len(batch) >= BATCH_DOCUMENTS or size >= BATCH_BYTES:
            collection.insert_many(batch, ordered=False)
            count += len(batch)
            batch, size = [], 0
    if batch:
        collection.insert_many(batch, ordered=False)
        count += len(batch)
    return count


# ------------------------------------------------------------------------------------------------- the archive


def read_metadata(run: RunContext, storage: Any, path: str, database: str) -> dict[str, Collection]:
    """The first pass: every collection's metadata, by name; the archive must hold one database folder."""
    collections: dict[str, Collection] = {}
    folders: set[str] = set()
    with _tar_stream(run, storage, path) as tar:
        for member in tar:
            folders.add(member.name.split("/", 1)[0])
            stem = _stem(member, ".metadata.json")
            if stem is None:
                continue
            check_metadata_size(member, path)
            reader = tar.extractfile(member)
            assert reader is not None
            collection = parse_metadata(reader, stem)
            collections[collection.name] = collection
    if len(folders) != 1:
        raise RestoreError(f"`{path}` is not one database in mongodump's layout (folders: "
                           f"{', '.join(sorted(folders)) or 'none'})")
    if folders != {database}:
        raise RestoreError(f"`{path}` holds database `{folders.pop()}`, not `{database}`")
    return collections


def check_metadata_size(member: tarfile.TarInfo, path: str) -> None:
    """A ``.metadata.json`` larger than :data:`METADATA_BYTES` is refused before it is read (mongodump's are a few
    KB; a hostile archive's could decompress to gigabytes, all held in memory)."""
    if member.size > METADATA_BYTES:
        raise RestoreError(f"`{path}`: `{member.name}` is {human_size(member.size)}, more than the "
                           f"{human_size(METADATA_BYTES)} a collection's metadata may be: refused")


def parse_metadata(reader: IO[bytes], stem: str) -> Collection:
    """The collection a ``.metadata.json`` (at most :data:`METADATA_BYTES`) describes."""
    data = reader.read(METADATA_BYTES + 1)
    if len(data) > METADATA_BYTES:
        raise ValueError(f"the metadata of `{stem}` is more than {human_size(METADATA_BYTES)}")
    metadata = json_util.loads(data.decode(), json_options=_METADATA) if data else {}
    name = metadata.get("collectionName") or unquote(stem)
    return Collection(name, metadata)


def _stem(member: tarfile.TarInfo, suffix: str) -> str | None:
    """The file stem of a ``<db>/<stem><suffix>`` regular file, or None."""
    parts = member.name.split("/")
    if not member.isfile() or len(parts) != 2 or not parts[1].endswith(suffix):
        return None
    return parts[1].removesuffix(suffix)


def extract(run: RunContext, storage: Any, path: str, dest: Path) -> int:
    """The archive's files under ``dest`` (regular files and folders only, nothing outside it); how many files.

    They are extracted into a private folder inside ``dest`` and moved into place only once the whole archive was
    read and proven: an archive found damaged at its end leaves ``dest`` as it was."""
    files = 0
    staging = Path(tempfile.mkdtemp(prefix=".corral-restore-", dir=dest))
    try:
        with _tar_stream(run, storage, path) as tar:
            for member in tar:
                if not (member.isfile() or member.isdir()):
                    raise RestoreError(f"`{path}` holds `{member.name}`, which is no file or folder")
                tar.extract(member, staging, filter="data")
                files += member.isfile()
        _move_into(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return files


def _move_into(staging: Path, dest: Path) -> None:
    """Every file under ``staging`` renamed to the same place under ``dest`` (folders made as needed, a file there
    replaced, as tar would)."""
    for folder, _dirs, names in os.walk(staging):
        relative = Path(folder).relative_to(staging)
        (dest / relative).mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in names:
            os.replace(Path(folder, name), dest / relative / name)


@contextlib.contextmanager
def _tar_stream(run: RunContext, storage: Any, path: str) -> Iterator[tarfile.TarFile]:
    """The stored archive as a tar read front to back: the stream from the storage (decrypted on the way) through
    its decompressor. A damaged archive is one :class:`RestoreError` naming the cause (the decompressor's, age's,
    or tar's), raised when it shows, at the latest once the archive was read to its end."""
    unpack = decompressor(path) or ["cat"]
    with tempfile.TemporaryFile() as errors, contextlib.closing(storage.open_read(path)) as stored:
        try:
            process = run.popen(unpack, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors)
        except FileNotFoundError:
            raise RestoreError(f"restoring needs the `{unpack[0]}` program, which is not installed") from None
        pump = Pump(cast(BinaryIO, stored), cast(BinaryIO, process.stdin), "corral-mongodb-restore")
        output = cast(BinaryIO, process.stdout)
        failure: BaseException | None = None
        try:
            with tarfile.open(fileobj=output, mode="r|") as tar:
                yield tar
            while output.read(1 << 20):  # to the end: the decompressor checks its checksum, age its last block
                pass
        except (tarfile.TarError, BSONError, EOFError, UnicodeDecodeError, ValueError) as exc:
            failure = exc
        finally:
            output.close()
            pump.join()
            process.wait()
            run.forget(process)
        if isinstance(pump.error, CorralError):
            raise pump.error
        if process.returncode > 0:  # not when it died of the pipe closed above
            errors.seek(0)
            said = [line.strip() for line in errors.read().decode(errors="replace").splitlines() if line.strip()]
            raise RestoreError(f"`{path}` does not decompress ({unpack[0]}): "
                               f"{said[-1] if said else f'exit code {process.returncode}'}")
        if failure is not None:
            raise RestoreError(f"`{path}` is not a readable mongodump archive: {failure}")
        if pump.error is not None and not isinstance(pump.error, BrokenPipeError):
            raise RestoreError(f"reading `{path}` failed: {pump.error}")
