"""``mysql``: one logical dump per database (mariadb-dump or mysqldump), restorable with the standard client.

Each archive is ``mariadb-dump --databases NAME`` streamed through the compressor straight to the storages
(nothing of it in tmp_dir), so
``zstd -dc NAME.sql.zst | mariadb`` recreates the database under its own name.
"""

from __future__ import annotations

import fnmatch
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corral import (
    Codec,
    DrillReport,
    DrillRequest,
    DumpError,
    DumpFailure,
    DumpResult,
    Ended,
    Inventory,
    JobConfig,
    RestoreRequest,
    RunContext,
    SourceSchema,
    compressed,
    hookimpl,
    with_compressions,
)
from corral.archive import target_problem
from corral_source_mysql import client, drill, facts, replica, restore, stream, tools
from corral_source_mysql.inventory import inventory
from corral_source_mysql.optionfile import option_file
from corral_source_mysql.options import MySQLSource

# With any of these the user chose how tables are locked; otherwise a consistent InnoDB snapshot is taken.
_LOCKING = {"--single-transaction", "--skip-single-transaction", "--lock-all-tables", "-x", "--lock-tables", "-l",
            "--skip-lock-tables"}


@hookimpl
def corral_source_schema() -> SourceSchema:
    return SourceSchema(source=MySQLSource, group="databases", extensions=with_compressions("sql"))


def select_databases(targets: list[str], excludes: list[str], present: list[str]) -> tuple[list[str], list[str]]:
    """The databases to dump (``all`` expanded minus ``excludes``, named ones as given) and the missing names."""
    chosen: list[str] = []
    missing: list[str] = []
    for target in targets:
        if target == "all":
            chosen += [db for db in present if not any(fnmatch.fnmatchcase(db, pattern) for pattern in excludes)]
        elif target in present:
            chosen.append(target)
        else:
            missing.append(target)
    return list(dict.fromkeys(chosen)), missing


@hookimpl
def corral_source_inventory(source: MySQLSource, tmp_dir: Path, run: RunContext) -> Inventory:
    """Coverage: the server's databases and those ``target``/``excludes`` select (named ones even if missing)."""
    dumped = Inventory.dumped_by(select_databases, source.target, source.excludes)
    return inventory(run, source.connect, tmp_dir, dumped)


def dump_command(dumper: str, options: Path, extra_keys: str, database: str) -> list[str]:
    """The dump tool's arguments; ``--defaults-file`` must come first, and it carries the password."""
    extra = shlex.split(extra_keys)
    locking = [] if any(key.split("=")[0] in _LOCKING for key in extra) else ["--single-transaction"]
    return [dumper, f"--defaults-file={options}", *extra, *locking, "--databases", "--", database]


@dataclass
class Session:
    """One source's connection while its databases are dumped one after the other."""

    run: RunContext
    source: MySQLSource
    options: Path
    tmp_dir: Path
    dumper: str
    client: str
    codec: Codec
    pausing: bool = False
    notes: list[str] = field(default_factory=list)  # warnings for the source, attached to its next archive

    @property
    def where(self) -> str:
        return self.source.connect.where()


@hookimpl
def corral_source_dump(job: JobConfig, source: MySQLSource, tmp_dir: Path, run: RunContext) -> Iterator[DumpResult]:
    dumper = tools.find(tools.DUMPERS, apt="mariadb-client")
    program = tools.find(tools.CLIENTS, apt="mariadb-client")
    codec = stream.codec(source.codec_name)
    with option_file(tmp_dir, source.connect) as options:
        session = Session(run, source, options, tmp_dir, dumper, program, codec)
        try:
            present = client.databases(run, program, options)
        except client.SQLError as exc:
            raise DumpError(f"mysql {session.where}: cannot list the databases: {exc}") from None
        databases, missing = select_databases(source.target, source.excludes, present)
        for name in missing:
            yield DumpFailure(name, f"no database `{name}` on {session.where}")
        if source.is_slave:
            _check_replica(session)
        for database in databases:
            yield from _dump_one(session, database)


def _check_replica(session: Session) -> None:
    """Pause the SQL thread only when it runs; say so when ``is_slave`` cannot apply."""
    try:
        running = replica.sql_thread_running(session.run, session.client, session.options)
    except client.SQLError as exc:
        raise DumpError(f"mysql {session.where}: is_slave: cannot read the replica status: {exc}") from None
    if running is None:
        session.notes.append("is_slave: yes, but the server replicates from nobody; nothing was paused")
    elif not running:
        session.notes.append("is_slave: the replica's SQL thread was already stopped; it was left stopped")
    session.pausing = bool(running)


def _dump_one(session: Session, database: str) -> Iterator[DumpResult]:
    """Stream one database to the core; when pausing, the SQL thread stops for this dump only and resumes as soon
    as the dump program exited, while the storages commit (:class:`replica.ResumeAfter`)."""
    extension = "sql" + session.codec.suffix
    if target_problem(database, extension):
        yield DumpFailure(database, "the database name cannot be used as a file name")
        return
    run, program, options = session.run, session.client, session.options
    known, warnings = facts.database_facts(run, program, options, session.dumper, database)
    session.notes.extend(warnings)
    if session.pausing:
        try:
            replica.pause(run, program, options)
        except client.SQLError as exc:
            raise DumpError(f"mysql {session.where}: is_slave: cannot stop the SQL thread: {exc}") from None
    command = dump_command(session.dumper, options, session.source.extra_keys, database)
    try:
        pipe = compressed(run, command, session.codec.argv, session.tmp_dir, describe=stream.cause)
    except BaseException:
        if session.pausing:
            replica.resume(run, program, options)
        raise
    assert pipe.producer is not None
    resumer = replica.ResumeAfter(run, program, options, pipe.producer) if session.pausing else None
    if resumer:
        resumer.start()
    notes = tuple(session.notes)
    session.notes.clear()  # said once per source

    def check(ended: Ended) -> tuple[str, ...]:
        if resumer:
            resumer.join()
        if ended.error:
            raise DumpError(ended.error)
        said = ended.producer.stderr if ended.producer else ()
        return (*notes, *(line for line in said if line.strip()))[:20]

    yield from pipe.archive(database, extension, check=check, facts=known)
    if resumer and resumer.error:
        raise DumpError(
            f"mysql {session.where}: is_slave: the SQL thread could not be resumed ({resumer.error}); "
            "run START SLAVE SQL_THREAD on the replica"
        )


@hookimpl
def corral_source_restore(job: JobConfig, storage: Any, target: str, dest: Path | None, run: RunContext,
                          request: RestoreRequest) -> list[str] | None:
    """Into a server: load the dump as ``--as`` (see :mod:`corral_source_mysql.restore`); with ``--to`` the core
    fetches the archive for ``mariadb`` by hand."""
    if dest is not None:
        return None
    return restore.restore_database(job, storage, target, run, request)


@hookimpl
def corral_source_drill(job: JobConfig, storage: Any, target: str, run: RunContext, request: DrillRequest
                        ) -> DrillReport:  # fmt: skip
    """The dump into a throwaway MariaDB (or ``drill: server``), compared and checked (:mod:`.drill`)."""
    return drill.drill_dump(job, storage, target, run, request)


@hookimpl
def corral_source_doctor(source: MySQLSource, tmp_dir: Path, run: RunContext) -> list[Any]:
    """``corral doctor``: the client, the dump tool against the server's version, the databases (:mod:`.doctor`)."""
    from corral_source_mysql import doctor

    return doctor.check_dump(source, tmp_dir, run)
