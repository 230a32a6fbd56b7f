"""``mysql``: one logical dump per database (mariadb-dump or mysqldump), restorable with the standard client.

Each archive is ``mariadb-dump --databases NAME`` streamed through the compressor, so
``zstd -dc NAME.sql.zst | mariadb`` recreates the database under its own name.
"""

from __future__ import annotations

import fnmatch
import os
import shlex
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from corral import Archive, DumpError, DumpFailure, RunContext, hookimpl
from corral.archive import DumpResult, with_compressions
from corral.config.models import JobConfig, SourceSchema
from corral_source_mysql import client, replica, stream, tools
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
    codec: stream.Codec
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


def _outcome(session: Session, result: stream.StreamResult, out: Path, database: str, extension: str) -> DumpResult:
    if not result.ok:
        return DumpFailure(database, result.error)
    warnings = (*session.notes, *(line for line in result.stderr if line.strip()))[:20]
    session.notes.clear()  # said once per source
    try:
        return Archive(path=out, target=database, extension=extension, warnings=warnings)
    except ValueError:
        out.unlink(missing_ok=True)
        return DumpFailure(database, "the database name cannot be used as a file name")


def _dump_one(session: Session, database: str) -> Iterator[DumpResult]:
    """Dump one database; when pausing, the SQL thread stops for this dump only and resumes before the upload."""
    extension = "sql" + session.codec.suffix
    handle, name = tempfile.mkstemp(prefix="mysql-", suffix="." + extension, dir=session.tmp_dir)
    os.close(handle)
    out = Path(name)
    run, program, options = session.run, session.client, session.options
    if session.pausing:
        try:
            replica.pause(run, program, options)
        except client.SQLError as exc:
            out.unlink(missing_ok=True)
            raise DumpError(f"mysql {session.where}: is_slave: cannot stop the SQL thread: {exc}") from None
    resume_error = ""
    command = dump_command(session.dumper, options, session.source.extra_keys, database)
    try:
        result = stream.run_to_file(run, command, session.codec, out)
    finally:
        if session.pausing:
            try:
                replica.resume(run, program, options)
            except client.SQLError as exc:
                resume_error = str(exc)
    yield _outcome(session, result, out, database, extension)
    if resume_error:
        raise DumpError(
            f"mysql {session.where}: is_slave: the SQL thread could not be resumed ({resume_error}); "
            "run START SLAVE SQL_THREAD on the replica"
        )
