"""``corral restore`` of a ``postgresql`` job: a pg_dump archive streamed into a server with pg_restore (psql for
plain SQL), the roles first with ``--with-globals``.

``zstd -dc ARCHIVE | pg_restore -d DB`` is what runs, fed from the storage's stream: no copy on local disk, except
with ``--jobs N`` (pg_restore -j needs a file it can seek in: the dump is decompressed into a private work folder
under the job's tmp_dir first). A database that holds a table is never touched without ``--force``; a database
corral created for a restore that failed is dropped again. The server's password is the job's own when ``--into``
names one of the job's servers, handed over in a 0600 pgpass file as the dumps do; else libpq's own (~/.pgpass).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, cast

from corral import JobConfig, RestoreError, RestoreRequest, RunContext, human_size, load, new_work_dir, own_backup
from corral.restoring import Unpacked
from corral_source_postgresql.connection import Server, client_env, first_error, source_prefix, target_name
from corral_source_postgresql.options import DumpSource
from corral_source_postgresql.programs import locate
from corral_source_postgresql.restricted import Guard, restricts
from corral_source_postgresql.signals import interruptible, shielded
from corral_source_postgresql.vetted import refused, without_tablespaces

GLOBALS = "globals"
MAINTENANCE = "postgres"
_TABLES = ("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN "
           "('r', 'p', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
           "AND n.nspname NOT LIKE 'pg_toast%'")
_NOT_SYSTEM = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
_FROM_EXTENSION = "EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')"
# what a database without tables may still hold of someone's: views, sequences, functions (not an extension's)
_OTHERS = (f"SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN "
           f"('v', 'S') AND {_NOT_SYSTEM} AND NOT {_FROM_EXTENSION.format(oid='c.oid')}) + (SELECT count(*) FROM "
           f"pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {_NOT_SYSTEM} AND NOT "
           f"{_FROM_EXTENSION.format(oid='p.oid')})")
_CREATE_ROLE = re.compile(r"^CREATE ROLE (\"(?:[^\"]|\"\")+\"|\S+);$", re.MULTILINE)


@dataclass(frozen=True)
class Place:
    """Where a database goes: the server, how messages name it, and the job's source it came from (if any)."""

    server: Server
    shown: str
    source: DumpSource | None


def restore_dump(job: JobConfig, storage: Any, target: str, run: RunContext,
                 request: RestoreRequest) -> list[str] | None:  # fmt: skip
    """The ``postgresql`` restore; None for ``--to`` (the core fetches the archive as it is)."""
    if request.to is not None:
        return None
    sources = [s for s in job.sources if isinstance(s, DumpSource)]
    globals_of = {source_prefix(job, s, Server.from_config(s.connect)) + GLOBALS: s for s in sources}
    if target in globals_of:
        place = _place(job, sources, request.into, globals_of[target])
        return _globals(run, job, place, storage, request.archive.path, request)
    dbname = _original_name(sources, target)
    place = _place(job, sources, request.into, _source_of(sources, dbname))
    applied = []
    if request.options.get("with_globals"):
        if place.source is None:
            raise RestoreError(f"--with-globals: no source of job `{job.name}` holds database `{dbname}`")
        wanted = source_prefix(job, place.source, Server.from_config(place.source.connect)) + GLOBALS
        applied += _globals(run, job, place, storage, _same_run(storage, wanted, request), request)
    return [*applied, *_database(run, job, place, storage, dbname, request)]


def _original_name(sources: list[DumpSource], target: str) -> str:
    """The database a target names: a listed database whose file-safe name it is, else the target itself."""
    for source in sources:
        for name in source.target:
            if name != "all" and target_name(name) == target:
                return name
    return target


def _source_of(sources: list[DumpSource], dbname: str) -> DumpSource | None:
    """The job's source that dumps ``dbname``: the one that lists it, else the only one with ``all``."""
    for source in sources:
        if dbname in source.target:
            return source
    every = [s for s in sources if s.target == ["all"] and dbname not in s.excludes]
    return every[0] if len(every) == 1 else None


def parse_into(text: str) -> tuple[str | None, str | None, int | None]:
    """``[USER@]HOST[:PORT]``, ``[USER@][IPv6]:PORT`` or a socket folder (``/var/run/postgresql``, or its
    ``.s.PGSQL.PORT`` file) as (user, host, port)."""
    user, _, rest = text.rpartition("@")
    host, port = rest, None
    if rest.startswith("["):
        close = rest.find("]")
        host, tail = rest[1:close], rest[close + 1:]
        if close < 0 or (tail and not re.fullmatch(r":\d{1,5}", tail)):
            raise RestoreError(f"--into `{text}` is not [USER@]HOST[:PORT] or a socket folder")
        port = int(tail[1:]) if tail else None
    elif not rest.startswith("/") and rest.count(":") == 1:
        host, _, number = rest.partition(":")
        if not number.isdigit():
            raise RestoreError(f"--into `{text}`: `{number}` is not a port")
        port = int(number)
    elif rest.startswith("/"):
        socket = Path(rest)
        found = re.fullmatch(r"\.s\.PGSQL\.(\d+)", socket.name)
        if found:
            host, port = str(socket.parent), int(found[1])
    if not host or (port is not None and not 0 < port < 65536):
        raise RestoreError(f"--into `{text}` is not [USER@]HOST[:PORT] or a socket folder")
    return user or None, host, port


def _place(job: JobConfig, sources: list[DumpSource], into: str | None, own: DumpSource | None) -> Place:
    """The server ``--into`` names, with the job's password when it is one of the job's servers (and user)."""
    if into is None:
        if own is None:
            raise RestoreError(f"job `{job.name}` has several servers and none lists this database: name one "
                               "with --into [USER@]HOST[:PORT]")
        server = Server.from_config(own.connect)
        return Place(server, server.label, own)
    user, host, port = parse_into(into)
    for source in sources:
        known = Server.from_config(source.connect)
        if known.host == host and (known.port or 5432) == (port or 5432) and user in (None, known.user):
            return Place(known, known.label, source)
    server = Server(host, port, user, None, None)  # libpq's own password sources: ~/.pgpass, PGPASSFILE
    return Place(server, server.label, None)


def _same_run(storage: Any, target: str, request: RestoreRequest) -> str:
    """The globals archive made by the run that made the chosen dump."""
    made = request.archive.made
    for remote in storage.list():
        backup = own_backup(remote, storage.root, ("sql", "sql.gz", "sql.zst"))
        if backup is not None and backup.target == target and backup.made == made:
            return backup.path
    raise RestoreError(f"--with-globals: storage {storage.name} holds no `{target}` archive from the run of "
                       f"{made:%Y-%m-%d %H:%M:%S}")


def _psql(run: RunContext, server: Server, env: dict[str, str], dbname: str, script: str,
          variables: dict[str, str] | None = None, stop: bool = True) -> subprocess.CompletedProcess[bytes]:
    """psql reading ``script`` on stdin (``:'name'`` variables are quoted by psql itself)."""
    command = [locate("psql")["psql"], "-X", "-w", "-q", "-A", "-t", "-v", f"ON_ERROR_STOP={int(stop)}"]
    for key, value in (variables or {}).items():
        command += ["-v", f"{key}={value}"]
    process = run.popen([*command, "-d", server.conninfo(dbname)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, env={**env, "PGCLIENTENCODING": "UTF8"})
    try:
        out, err = process.communicate(script.encode())
    finally:
        run.forget(process)
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def _query(run: RunContext, place: Place, env: dict[str, str], dbname: str, script: str,
           variables: dict[str, str] | None = None) -> str:  # fmt: skip
    done = _psql(run, place.server, env, dbname, script, variables)
    if done.returncode != 0:
        raise RestoreError(f"{place.shown}: {first_error(done.stderr, f'psql exited with code {done.returncode}')}")
    return done.stdout.decode(errors="replace").strip()


def _tables(run: RunContext, place: Place, env: dict[str, str], dbname: str) -> int | None:
    """How many tables ``dbname`` holds; None when it does not exist."""
    found = _query(run, place, env, MAINTENANCE, "SELECT count(*) FROM pg_database WHERE datname = :'name'",
                   {"name": dbname})
    if found == "0":
        return None
    return int(_query(run, place, env, dbname, _TABLES))


def _database(run: RunContext, job: JobConfig, place: Place, storage: Any, dbname: str,
              request: RestoreRequest) -> list[str]:  # fmt: skip
    archive = request.archive
    name = request.as_name or dbname
    extension = archive.path.rsplit("/", 1)[-1].split(".", 1)[-1]
    plain = extension.removesuffix(".age").split(".")[0] == "sql"
    jobs = request.options.get("jobs")
    with _client(place, job) as env:
        tables = _tables(run, place, env, name)
        if tables is not None and _query(run, place, env, MAINTENANCE, "SELECT datistemplate FROM pg_database WHERE "
                                         "datname = :'name'", {"name": name}) == "t":
            raise RestoreError(f"`{name}` on {place.shown} is a template database: what is restored into it goes into "
                               "every database created after; restore under another name with --as NAME")
        if tables and not request.force:
            raise RestoreError(f"{place.shown} already has database `{name}` with {tables} "
                               f"table{'s' if tables != 1 else ''}: not touched; --force replaces it, --as NAME "
                               "restores beside it")
        others = int(_query(run, place, env, name, _OTHERS)) if tables == 0 and not request.force else 0
        if others:  # pg_restore would merge the dump into them (or stop half-way on a name both have)
            raise RestoreError(f"{place.shown} already has database `{name}` with no table but {others} view(s), "
                               "sequence(s) or function(s): not touched; --force replaces it, --as NAME restores "
                               "beside it")
        counted = f"{tables} table{'s' if tables != 1 else ''}"
        tool = "psql" if plain else f"pg_restore{f' -j {jobs}' if jobs and not plain else ''}"
        if request.dry_run:
            if tables is not None and request.force:
                request.say(f"would drop database `{name}` ({counted}) on {place.shown} and create it anew")
            elif tables is None:
                request.say(f"would create database `{name}` on {place.shown}")
            request.say(f"would load `{archive.path}` ({human_size(archive.size)}) into `{name}` with {tool}")
            return [archive.path]
        created = False
        if tables is not None and request.force:
            _query(run, place, env, MAINTENANCE, 'DROP DATABASE :"name" WITH (FORCE)', {"name": name})
            request.say(f"dropped database `{name}` ({counted}) on {place.shown} (--force)")
        loader = request.options.get("loader")  # a drill's non-superuser role: owns the database, loads it
        made = False  # the CREATE went through
        with interruptible(run):  # SIGTERM from here on unwinds through the drop below
            try:
                if tables is None or request.force:  # it is not there (any more): ours from here on
                    created = True
                    owned = ' OWNER :"loader"' if loader else ""
                    _query(run, place, env, MAINTENANCE, f'CREATE DATABASE :"name" TEMPLATE template0{owned}',
                           {"name": name, **({"loader": loader} if loader else {})})
                    made = True
                    request.say(f"created database `{name}` on {place.shown}")
                    if request.options.get("prepare"):  # a drill's: SQL run in it before the load, by us
                        _query(run, place, env, name, request.options["prepare"])
                elif tables == 0:
                    request.say(f"database `{name}` exists on {place.shown} and holds no table: restoring into it")
                if plain and jobs:
                    request.say("--jobs: a plain SQL dump is loaded by one psql; ignored")
                started = time.monotonic()
                _load(run, job, place, storage, name, extension, plain, jobs, env, request)
            except BaseException as exc:
                if created:
                    with shielded():
                        _query(run, place, env, MAINTENANCE, 'DROP DATABASE IF EXISTS :"name" WITH (FORCE)',
                               {"name": name})
                    if isinstance(exc, RestoreError) and made:
                        raise RestoreError(f"{exc}; dropped the half-restored database `{name}`") from None
                    if made and not isinstance(exc, RestoreError):
                        request.say(f"stopped: dropped the half-restored database `{name}` on {place.shown}")
                raise
        request.say(f"loaded `{archive.path}` ({human_size(archive.size)}) into `{name}` on {place.shown} with "
                    f"{tool} in {time.monotonic() - started:.1f} s")
    return [archive.path]


@contextlib.contextmanager
def _client(place: Place, job: JobConfig) -> Iterator[dict[str, str]]:
    """The clients' environment: the job's password in a 0600 pgpass file in a private work folder (removed at
    the end); for a server that is not the job's, libpq's own (~/.pgpass, PGPASSFILE)."""
    if place.server.password is None and place.server.auth_file is None:
        yield dict(os.environ)
        return
    work = new_work_dir(job.tmp_dir)
    try:
        with client_env(place.server, work) as env:
            yield env
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _load(run: RunContext, job: JobConfig, place: Place, storage: Any, name: str, extension: str, plain: bool,
          jobs: int | None, env: dict[str, str], request: RestoreRequest) -> None:  # fmt: skip
    loader = request.options.get("loader")
    conninfo = (replace(place.server, user=loader) if loader else place.server).conninfo(name)
    if plain:
        client = [locate("psql")["psql"], "-X", "-w", "-q", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null",
                  "-d", conninfo]
        sql = Unpacked(run, storage.open_read(request.archive.path), extension, _guard(client[0], request).feed,
                       "corral-postgresql-unpack")  # psql runs no meta-command of the archive
        try:
            load(run, cast(BinaryIO, sql), "sql", client, env)
        finally:
            sql.close()
        return
    pg_restore = locate("pg_restore")["pg_restore"]
    base = [pg_restore, "-w", "--exit-on-error", *request.options.get("pg_restore_args", ()), "-d", conninfo]
    if not jobs:
        _stream(run, storage, request.archive.path, extension, base, env)
        return
    work = new_work_dir(job.tmp_dir)
    try:
        dump = work / "restore.dump"
        started = time.monotonic()
        _stream(run, storage, request.archive.path, extension, ["dd", f"of={dump}", "bs=1M", "status=none"], env)
        request.say(f"decompressed into `{work}` for pg_restore -j {jobs} in {time.monotonic() - started:.1f} s: "
                    f"{human_size(dump.stat().st_size)} of temp space")
        done = run.run([*base, "-j", str(jobs), str(dump)], env=env, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RestoreError(f"pg_restore failed (exit {done.returncode}): "
                               f"{first_error(done.stderr, 'no message')}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _guard(psql: str, request: RestoreRequest) -> Guard:
    if restricts(psql):
        return Guard()
    request.say(f"note: `{psql}` is older than psql's \\restrict (13.22, 14.19, 15.14, 16.10, 17.6): the archive's "
                "meta-commands are not refused (\\! runs a shell); upgrade postgresql-client")
    return Guard(restrict=False)


def _stream(run: RunContext, storage: Any, path: str, extension: str, client: list[str],
            env: dict[str, str]) -> str:  # fmt: skip
    source: BinaryIO = storage.open_read(path)
    try:
        return load(run, source, extension, client, env)
    finally:
        source.close()


def _globals(run: RunContext, job: JobConfig, place: Place, storage: Any, path: str,
             request: RestoreRequest) -> list[str]:  # fmt: skip
    """Roles and tablespaces with psql, before the databases. A role that exists already is a note: psql goes
    on, and the archive's ALTER ROLE sets its attributes (and password) as they were."""
    if request.dry_run:
        request.say(f"would run `{path}` (roles, tablespaces) with psql on {place.shown}")
        return [path]
    extension = path.rsplit("/", 1)[-1].split(".", 1)[-1]
    with _client(place, job) as env:
        sql = _stream(run, storage, path, extension, ["cat"], env)  # a few KB: the roles, to name them
        guard = _guard(locate("psql")["psql"], request)
        script = guard.feed(sql.encode(), final=True).decode()  # SQL only
        head, _, body = script.partition("\n") if guard.key else ("", "", script)
        why = refused(body)
        if why:  # run as a superuser, here or in a drill's throwaway: what pg_dumpall writes, nothing else
            raise RestoreError(f"globals `{path}`: not run on {place.shown}: {why} (read it, then run it "
                               "with psql yourself if you trust it)")
        if request.options.get("skip_tablespaces"):  # a throwaway: no folder of the machine's is touched
            script = (head + "\n" if guard.key else "") + without_tablespaces(body)
        done = _psql(run, place.server, env, MAINTENANCE, script, stop=False)
    errors = [" ".join(line.split()) for line in done.stderr.decode(errors="replace").splitlines()
              if "ERROR:" in line]
    existing = [line for line in errors if "already exists" in line]
    others = [line for line in errors if "already exists" not in line]
    if request.options.get("skip_tablespaces"):  # a drill's throwaway server has none of their folders
        others = [line for line in others if "tablespace" not in line.lower()]
    if done.returncode != 0 or others:
        cause = others[0] if others else first_error(done.stderr, f"psql exited with code {done.returncode}")
        raise RestoreError(f"globals `{path}` on {place.shown}: {cause}")
    roles = _CREATE_ROLE.findall(sql)
    for line in existing:
        found = re.search(r'(role|tablespace) "(.+)" already exists', line)
        request.say(f"note: {found[1]} `{found[2]}` already exists on {place.shown}: kept, its attributes set "
                    "from the archive" if found else f"note: {line}")
    request.say(f"restored globals `{path}` on {place.shown}: {len(roles)} role{'s' if len(roles) != 1 else ''}, "
                f"{len(roles) - sum('role' in line for line in existing)} created")
    return [path]

