"""The fleet's run records, read from the storages into a private SQLite cache (docs/console.md).

A reading lists each storage's job folders and their ``.runs/`` folders, remembers every record's name, and
fetches only what the fleet page needs and has not read before: per (server, job), the newest ``TREND`` starts
(the size trend) and further back to its last success, its newest verify and its newest drill. A job's page
fetches the rest of that job's records when it is opened. A record is immutable but for a second run in the same
second: a listed size or time that changed fetches it again. Records are untrusted input (any server sharing the
storage writes them): size-capped, parsed defensively, never executed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import posixpath
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fsspec.asyn import sync

from corral.archive import RECORDS_DIR
from corral.config.models import StorageConfig
from corral.debugging import explain
from corral.records import FORMAT, parse_name

log = logging.getLogger("corral")
TREND = 10  # start records per (server, job) read for the size trend
MAX_RECORD = 256 * 1024  # bytes: a record is at most 64 KiB as corral writes it; a bigger file is not read
BATCH = 256  # records fetched at once from a storage that reads concurrently (S3, SFTP)
READERS = 32  # of those, requests in flight
SCHEMA = """
CREATE TABLE IF NOT EXISTS record (
  source TEXT NOT NULL, job TEXT NOT NULL, name TEXT NOT NULL,
  server TEXT NOT NULL, kind TEXT NOT NULL, stamp TEXT NOT NULL,
  version TEXT NOT NULL,      -- size and time as listed: a change fetches the record again
  fetched TEXT,               -- the version that was read, NULL until read
  body BLOB,                  -- the record as read (zlib), or NULL
  outcome TEXT, size INTEGER, finished TEXT, problem TEXT,
  seen INTEGER NOT NULL,      -- the reading that last listed it
  PRIMARY KEY (source, job, name));
DROP INDEX IF EXISTS by_run;
CREATE INDEX IF NOT EXISTS by_job ON record (job, server, kind, stamp DESC);  -- the newest first, unsorted
CREATE INDEX IF NOT EXISTS read_runs ON record (job, server, kind, stamp DESC, source, outcome, size, finished)
  WHERE fetched IS NOT NULL;  -- covers the fleet_rows query: 10,000 jobs read without a look at the table
"""


@dataclass(frozen=True)
class Source:
    """One storage the console reads: its label (from ``--storage`` / ``console.storages``) and settings."""

    label: str
    config: StorageConfig


@dataclass
class Reading:
    """What the last reading of the storages found."""

    started: float = 0.0
    begun: float = 0.0  # time.monotonic() at its start
    seconds: float = 0.0
    listed: int = 0
    fetched: int = 0
    errors: list[str] = field(default_factory=list)  # one line per storage or folder that could not be read


@dataclass(frozen=True)
class Summary:
    """One record as the pages show it (from the cache, never the raw file)."""

    source: str
    job: str
    server: str
    kind: str
    stamp: str
    read: bool
    outcome: str  # ok, failed, or "" (not read yet), unreadable
    size: int | None
    finished: str | None
    problem: str | None  # why it could not be read


def open_filesystem(config: StorageConfig) -> Any:
    """The storage's fsspec filesystem, as its plugin opens it for a job."""
    from corral.plugins import load_driver

    return load_driver("storage", config.name).hook.corral_storage_filesystem(config=config)


def _version(info: dict[str, Any]) -> str:
    moment = next((info[key] for key in ("ETag", "mtime", "LastModified", "modified", "created") if info.get(key)),
                  "")  # fmt: skip
    return f"{info.get('size')}:{moment}"


def _name_of(entry: dict[str, Any]) -> str:
    return posixpath.basename(str(entry.get("name", "")).rstrip("/"))


def summarize(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """A fetched record's JSON, or why it is not one corral can show (a storage writer is not trusted)."""
    if len(raw) > MAX_RECORD:
        return None, f"larger than {MAX_RECORD // 1024} KiB"
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: [[[[... 100,000 deep
        return None, f"not JSON: {str(exc)[:120]}"
    if not isinstance(body, dict):
        return None, "not a JSON object"
    if body.get("format") != FORMAT:
        return None, f"format {str(body.get('format'))[:20]} (this console reads format {FORMAT})"
    return body, None


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63 else None  # SQLite


def _text(value: Any) -> str | None:
    return value[:40] if isinstance(value, str) else None


class Index:
    """The cache and the readings that fill it; safe to use from the web server's threads."""

    def __init__(self, sources: list[Source], cache_file: Path) -> None:
        self.sources = {source.label: source for source in sources}
        # 0600 before SQLite opens it (its -wal and -shm files take the same mode); never through a link
        fd = os.open(cache_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        os.fchmod(fd, 0o600)
        os.close(fd)
        self._db = sqlite3.connect(cache_file, check_same_thread=False, isolation_level=None)
        self._db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" + SCHEMA)
        self._lock = threading.RLock()
        self._reading = threading.Lock()  # one reading at a time
        self._filesystems: dict[str, Any] = {}
        self.generation = 0  # grows with every reading that changed something
        self.more = 0  # grows when a job page read more of a job's records
        self._read_once = False
        self.last = Reading()
        self._current = self.last  # the reading going on, which a failed fetch reports to
        self.down: set[str] = set()  # storages that gave no record in this reading: not asked again in it
        row = self._db.execute("SELECT max(seen) FROM record").fetchone()
        self._seen = int(row[0] or 0)
        self._db.execute("CREATE TEMP TABLE IF NOT EXISTS chosen (job TEXT PRIMARY KEY)")

    # ------------------------------------------------------------------------------------------- reading

    def filesystem(self, label: str) -> Any:
        with self._lock:
            if label not in self._filesystems:
                self._filesystems[label] = open_filesystem(self.sources[label].config)
            return self._filesystems[label]

    def read(self) -> Reading:
        """List every storage and fetch the records the fleet page needs; one line per storage that failed."""
        with self._reading:
            reading = Reading(started=time.time(), begun=time.monotonic())
            first, self._read_once = not self._read_once, True  # the first looks at all a last process left
            self._seen += 1
            self.down.clear()
            changed: set[str] = set()
            for label in self.sources:
                try:
                    listed, new = self._list(label, reading)
                    reading.listed += listed
                    changed |= new
                except Exception as exc:
                    with self._lock:  # a broken connection: open it again next time
                        self._filesystems.pop(label, None)
                    reading.errors.append(f"storage {label}: cannot be listed: {explain(exc)}")
                    self.down.add(label)
            with self._lock:  # folders whose records a storage did not give last time: asked again
                changed |= {row[0] for row in self._db.execute(
                    "SELECT DISTINCT job FROM record WHERE fetched IS NULL AND problem IS NOT NULL")}
            self._current = reading
            fetched = self._fetch_needed(None if first else changed)
            reading.fetched = fetched
            if changed or fetched:
                self.generation += 1
            reading.seconds = time.monotonic() - reading.begun
            self.last = reading
            for line in reading.errors:
                log.warning("console: %s", line)
            return reading

    def _list(self, label: str, reading: Reading) -> tuple[int, set[str]]:
        """Remember the names in every ``<backup_dir>/<job>/.runs/`` of one storage; forget the ones gone. The
        count of records listed, and the job folders whose records changed."""
        source = self.sources[label]
        fs = self.filesystem(label)
        root = source.config.backup_dir
        try:
            entries = fs.ls(root, detail=True)
        except FileNotFoundError:
            entries = []
        jobs = sorted({_name_of(e) for e in entries if e.get("type") == "directory"} - {""})
        workers = 16 if getattr(fs, "async_impl", False) or hasattr(fs, "fs") else 1

        def listing(job: str) -> tuple[str, dict[str, str] | None, str | None]:
            try:
                found = fs.ls(posixpath.join(root, job, RECORDS_DIR), detail=True)
            except FileNotFoundError:
                return job, {}, None
            except Exception as exc:
                return job, None, explain(exc)
            return job, {_name_of(entry): _version(entry) for entry in found
                         if entry.get("type") in (None, "file") and not entry.get("islink")}, None  # fmt: skip

        listed, changed, kept = 0, set(), set()
        def listings() -> Iterator[tuple[str, dict[str, str] | None, str | None]]:
            with ThreadPoolExecutor(max_workers=workers) as pool:  # a few at a time: map() alone would hold all
                for start in range(0, len(jobs), workers * 4):  # 10,000 folders' listings in memory at once
                    yield from pool.map(listing, jobs[start : start + workers * 4])

        for job, found, error in listings():
            kept.add(job)
            if found is None:  # keep what was known: a failed listing is no deletion
                reading.errors.append(f"storage {label}: job folder `{job}`: cannot be listed: {error}")
                continue
            count, new = self._store_listing(label, job, found)
            listed += count
            if new:
                changed.add(job)
        with self._lock:  # job folders that are gone
            known = {row[0] for row in self._db.execute("SELECT DISTINCT job FROM record WHERE source=?", (label,))}
            for job in known - kept:
                self._db.execute("DELETE FROM record WHERE source=? AND job=?", (label, job))
                changed.add(job)
        return listed, changed

    def _store_listing(self, label: str, job: str, found: dict[str, str]) -> tuple[int, bool]:
        """Compare one job folder's listing (name: version) with the cache: only new names are parsed and
        stored, only changed or gone ones written. The count of records in it, and whether any changed."""
        with self._lock:
            known = dict(self._db.execute("SELECT name, version FROM record WHERE source=? AND job=?",
                                          (label, job)).fetchall())  # fmt: skip
        new, moved = [], []
        for name, version in found.items():
            if name in known:
                if known[name] != version:
                    moved.append((version, label, job, name))
                continue
            parts = parse_name(name)
            if parts is not None:
                stamp, server, kind, _ = parts
                new.append((label, job, name, server, kind, stamp, version, self._seen))
        gone = [(label, job, name) for name in known if name not in found]
        if new or moved or gone:
            with self._lock:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT INTO record (source, job, name, server, kind, stamp, version, seen) "
                                     "VALUES (?,?,?,?,?,?,?,?)", new)  # fmt: skip
                self._db.executemany("UPDATE record SET version=? WHERE source=? AND job=? AND name=?", moved)
                self._db.executemany("DELETE FROM record WHERE source=? AND job=? AND name=?", gone)
                self._db.execute("COMMIT")
        return len(known) + len(new) - len(gone), bool(new or moved or gone)

    def _choose(self, jobs: set[str] | None) -> str:
        """A WHERE clause for the records of ``jobs`` (None: every job), through a temporary table."""
        if jobs is None:
            return ""
        self._db.execute("DELETE FROM chosen")
        self._db.executemany("INSERT INTO chosen VALUES (?)", [(job,) for job in jobs])
        return "WHERE job IN (SELECT job FROM chosen)"

    def _wanted(self, depth: int, jobs: set[str] | None) -> list[tuple[str, str, str]]:
        """(source, job, name) of the records the fleet page needs and has not read (or that changed), in the
        job folders ``jobs`` (None: all): one copy of each run (the first storage's), the newest of each kind
        and the newest ``depth`` starts. One pass over the index in its order: no sort of a million rows."""
        query = """
        SELECT source, job, name FROM (
          SELECT source, job, name, server, kind, stamp, fetched, version,
                 dense_rank() OVER (PARTITION BY job, server, kind ORDER BY stamp DESC) AS run
          FROM record {where}) r
        WHERE (fetched IS NULL OR fetched<>version) AND (run=1 OR (kind='start' AND run<=?))
          AND NOT EXISTS (SELECT 1 FROM record o WHERE o.job=r.job AND o.server=r.server AND o.kind=r.kind
                          AND o.stamp=r.stamp AND o.source<r.source)"""
        with self._lock:
            where = self._choose(jobs)
            return [tuple(row) for row in self._db.execute(query.format(where=where), (depth,))]

    def _fetch_needed(self, jobs: set[str] | None) -> int:
        """Read what the fleet needs in the job folders ``jobs`` (None: all; a reading passes the folders whose
        listing changed), going back further (TREND runs, then twice as many...) for the (server, job) whose
        last success is not among the runs read yet."""
        fetched, depth = 0, TREND
        while jobs is None or jobs:
            fetched += self._fetch(self._wanted(depth, jobs))  # TREND for all, deeper for those without success
            with self._lock:  # the folders of a (server, job) without a success read, and with older runs
                where = self._choose(jobs)
                jobs = {row[0] for row in self._db.execute(
                    f"SELECT job FROM record {where} {'AND' if where else 'WHERE'} kind='start' GROUP BY job, server "
                    "HAVING count(DISTINCT stamp)>? AND coalesce(max(outcome='ok'), 0)=0", (depth,))}  # fmt: skip
            depth *= 2
        return fetched

    def fetch_job(self, server: str, job: str) -> int:
        """Read every record of one (server, job) not read yet: its page shows them all."""
        with self._lock:
            wanted = [tuple(row) for row in self._db.execute(
                "SELECT source, job, name FROM record WHERE server=? AND job=? AND (fetched IS NULL OR "
                "fetched<>version)", (server, job))]  # fmt: skip
        fetched = self._fetch(wanted)
        if fetched:
            self.more += 1
        return fetched

    def _fetch(self, wanted: Iterable[tuple[str, str, str]]) -> int:
        by_source: dict[str, list[tuple[str, str]]] = {}
        for source, job, name in wanted:
            by_source.setdefault(source, []).append((job, name))
        count = 0
        for label, names in by_source.items():
            try:
                fs = self.filesystem(label)
            except Exception as exc:
                self._current.errors.append(f"storage {label}: cannot be opened: {explain(exc)}")
                self.down.add(label)
                continue
            root = self.sources[label].config.backup_dir
            for start in range(0, len(names), BATCH):
                if label in self.down:
                    break
                batch = names[start : start + BATCH]
                paths = {posixpath.join(root, job, RECORDS_DIR, name): (job, name) for job, name in batch}
                failed = 0
                for path, raw in self._cat(fs, list(paths)):
                    job, name = paths[path]
                    self._store_body(label, job, name, raw)
                    failed += isinstance(raw, Exception) and not isinstance(raw, FileNotFoundError)
                    count += not isinstance(raw, Exception)
                if failed == len(paths):  # not one answer: the storage is down, its other records wait
                    self.down.add(label)
                    self._current.errors.append(f"storage {label}: its records cannot be read now; tried again at the "
                                            "next reading")
        return count

    @staticmethod
    def _cat(fs: Any, paths: list[str]) -> Iterator[tuple[str, bytes | Exception]]:
        """Each path's content (at most MAX_RECORD + 1 bytes), or the exception that reading it raised."""
        if getattr(getattr(fs, "fs", fs), "async_impl", False):  # s3fs, sshfs, or a DirFileSystem over one
            # _cat_file itself, READERS at a time: fsspec's cat() expands (and s3fs's _cat_file without a range
            # HEADs) every path first, two requests per record; the range also caps what a hostile file costs
            async def read_all() -> list[bytes | BaseException]:
                limit = asyncio.Semaphore(READERS)

                async def read(path: str) -> bytes | BaseException:
                    async with limit:
                        try:
                            return bytes(await fs._cat_file(path, start=0, end=MAX_RECORD + 1))
                        except Exception as exc:
                            return exc

                return await asyncio.gather(*(read(path) for path in paths))

            try:
                found = sync(fs.loop, read_all)
            except Exception as exc:
                found = [exc] * len(paths)
            for path, value in zip(paths, found, strict=True):
                yield path, value if isinstance(value, bytes | Exception) else ValueError("unexpected reply")
            return
        for path in paths:
            try:
                with fs.open(path, "rb") as file:
                    yield path, file.read(MAX_RECORD + 1)
            except Exception as exc:
                yield path, exc

    def _store_body(self, label: str, job: str, name: str, raw: bytes | Exception) -> None:
        if isinstance(raw, FileNotFoundError):  # deleted since the listing (rotation): forget it
            with self._lock:
                self._db.execute("DELETE FROM record WHERE source=? AND job=? AND name=?", (label, job, name))
            return
        if isinstance(raw, Exception):  # the storage did not answer: said, and tried again at the next reading
            with self._lock:
                self._db.execute("UPDATE record SET problem=? WHERE source=? AND job=? AND name=?",
                                 (f"cannot be read: {explain(raw)}", label, job, name))
            return
        body, problem = summarize(raw)
        outcome = "unreadable" if body is None else ("ok" if body.get("outcome") == "ok" else "failed")
        size = _number(body.get("size")) if body else None
        finished = _text(body.get("finished")) if body else None
        packed = zlib.compress(json.dumps(body).encode()) if body is not None else None
        with self._lock:
            self._db.execute("UPDATE record SET fetched=version, body=?, outcome=?, size=?, finished=?, problem=? "
                             "WHERE source=? AND job=? AND name=?",
                             (packed, outcome, size, finished, problem, label, job, name))  # fmt: skip

    # ------------------------------------------------------------------------------------------- queries

    def summaries(self, server: str | None = None, job: str | None = None) -> list[Summary]:
        """Every record known (newest first), one per run and storage; of one server or one job."""
        where, args = [], []
        if server is not None:
            where.append("server=?")
            args.append(server)
        if job is not None:
            where.append("job=?")
            args.append(job)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            rows = self._db.execute(
                f"SELECT source, job, server, kind, stamp, fetched IS NOT NULL, coalesce(outcome, ''), size, finished, "
                f"problem FROM record {clause} ORDER BY stamp DESC, kind, source", args).fetchall()  # fmt: skip
        return [Summary(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6], row[7], row[8], row[9])
                for row in rows]

    def fleet_rows(self) -> Iterator[tuple[Any, ...]]:
        """Per (server, job, kind): the read records, newest first, as (server, job, kind, stamp, outcome, size,
        finished, source) rows, at most TREND of them but for the newest successful start."""
        query = """
        WITH ranked AS (
          SELECT server, job, kind, stamp, outcome, size, finished, source,
                 row_number() OVER (PARTITION BY job, server, kind ORDER BY stamp DESC, source) AS n
          FROM record WHERE fetched IS NOT NULL)
        SELECT server, job, kind, stamp, outcome, size, finished, source, n FROM ranked
        WHERE n<=? OR (kind='start' AND outcome='ok')
        ORDER BY job, server, kind, stamp DESC, source"""  # the order of the index read_runs: no sort
        with self._lock:  # streamed: 120,000 rows at 500 x 20 held as tuples were ~60 MB
            cursor = self._db.execute(query, (TREND * 3,))
            while batch := cursor.fetchmany(2000):
                yield from batch

    def listed_names(self) -> list[tuple[str, str, str, str]]:
        """(server, job, newest stamp, the storages holding its records, comma-separated) of every (server, job)
        seen in a listing, read or not."""
        with self._lock:
            return self._db.execute("SELECT server, job, max(stamp), group_concat(DISTINCT source) FROM record "
                                    "GROUP BY server, job").fetchall()

    def body(self, server: str, job: str, kind: str, stamp: str) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
        """The record of one run as each storage holds it: [(source, record)], and the problems of unreadable ones."""
        with self._lock:
            rows = self._db.execute("SELECT source, body, problem FROM record WHERE server=? AND job=? AND kind=? "
                                    "AND stamp=? ORDER BY source", (server, job, kind, stamp)).fetchall()
        found, problems = [], []
        for source, packed, problem in rows:
            if packed is not None:
                found.append((source, json.loads(zlib.decompress(packed))))
            elif problem:
                problems.append(f"storage {source}: {problem}")
        return found, problems

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM record").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            for fs in self._filesystems.values():
                close = getattr(fs, "close", None)
                if callable(close):
                    try:
                        close()
                    except Exception as exc:
                        log.debug("closing a storage: %s", explain(exc))
            self._filesystems.clear()
            self._db.close()
