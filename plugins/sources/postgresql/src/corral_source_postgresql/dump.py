"""``postgresql``: one pg_dump archive per database and one pg_dumpall archive of the cluster's globals.

The custom format is written with pg_dump's own compression off (``-Z0``) and streamed through zstd or gzip
when compression is asked: zstd -T0 is many times faster than pg_dump's built-in zlib, and
``zstd -dc db.dump.zst | pg_restore -d db`` restores it. The compressed stream goes straight to every storage:
nothing of it is written to tmp_dir. A database that fails is reported and the others go on;
a server that cannot be reached fails the whole source.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from corral import (
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
    hookimpl,
    with_compressions,
)
from corral_source_postgresql.codecs import Codec, codec
from corral_source_postgresql.connection import Server, client_env, source_prefix, target_name
from corral_source_postgresql.databases import list_databases, select
from corral_source_postgresql.facts import database_facts
from corral_source_postgresql.inventory import inventory
from corral_source_postgresql.options import DumpSource
from corral_source_postgresql.pipeline import open_dump, outcome
from corral_source_postgresql.programs import locate
from corral_source_postgresql.restore import restore_dump

EXTENSIONS = {"custom": "dump", "plain": "sql"}
GLOBALS = "globals"


@hookimpl
def corral_source_schema() -> SourceSchema:
    return SourceSchema(source=DumpSource, group="databases", extensions=with_compressions(*EXTENSIONS.values()))


@hookimpl
def corral_source_dump(job: JobConfig, source: DumpSource, tmp_dir: Path, run: RunContext) -> Iterator[DumpResult]:
    server = Server.from_config(source.connect)
    chosen = codec(source.codec_name)
    bins = locate("psql", "pg_dump", *(["pg_dumpall"] if source.globals else []), *filter(None, [chosen.program]))
    with client_env(server, tmp_dir) as env:
        existing = list_databases(run, bins["psql"], server, env)
        if source.globals:
            target = source_prefix(job, source, server) + GLOBALS
            yield from _globals(run, bins["pg_dumpall"], server, env, chosen, tmp_dir, target)
        databases, missing = select(source.target, source.excludes, existing)
        for name in missing:
            yield DumpFailure(target_name(name), f"database `{name}` does not exist on {server.label}")
        for name in databases:
            facts = database_facts(run, bins["psql"], bins["pg_dump"], server, env, name)
            command = pg_dump_command(bins["pg_dump"], server, source, chosen, name)
            yield from _database(run, command, server, env, source, chosen, tmp_dir, name, facts)


@hookimpl
def corral_source_inventory(source: DumpSource, tmp_dir: Path, run: RunContext) -> Inventory:
    """Coverage: the server's databases and those ``target``/``excludes`` select (named ones even if missing)."""
    return inventory(run, source.connect, tmp_dir, Inventory.dumped_by(select, source.target, source.excludes))


def pg_dump_command(pg_dump: str, server: Server, source: DumpSource, chosen: Codec, dbname: str) -> list[str]:
    """pg_dump's arguments: the user's extra keys first, so that the format and compression corral relies on
    win (pg_dump keeps the last of repeated options)."""
    command = [pg_dump, *source.extra_args, "-w", f"--format={source.format}"]
    if source.format == "custom" and chosen.argv:
        command.append("--compress=0")  # the stream is compressed by the codec, many times faster
    return [*command, "-d", server.conninfo(dbname)]


def _database(
    run: RunContext, command: list[str], server: Server, env: dict[str, str], source: DumpSource, chosen: Codec,
    tmp_dir: Path, name: str, facts: tuple[dict[str, Any], tuple[str, ...]],
) -> Iterator[DumpResult]:
    extension = EXTENSIONS[source.format] + chosen.suffix
    yield from _streamed(run, command, env, chosen, tmp_dir, target_name(name), extension,
                         f"pg_dump of `{name}` on {server.label} failed", facts)


def _globals(
    run: RunContext, pg_dumpall: str, server: Server, env: dict[str, str], chosen: Codec, tmp_dir: Path, target: str
) -> Iterator[DumpResult]:
    """Roles (with their password hashes) and tablespaces, as SQL for psql: restore them before the databases."""
    command = [pg_dumpall, "-w", "--globals-only", "-d", server.conninfo()]
    yield from _streamed(run, command, env, chosen, tmp_dir, target, "sql" + chosen.suffix,
                         f"pg_dumpall --globals-only on {server.label} failed")


def _streamed(run: RunContext, command: list[str], env: dict[str, str], chosen: Codec, tmp_dir: Path, target: str,
              extension: str, failed: str,
              facts: tuple[dict[str, Any], tuple[str, ...]] = ({}, ())) -> Iterator[DumpResult]:  # fmt: skip
    """The dump as a stream to every storage; ``failed`` starts the one-line error when it does not complete.
    ``facts``: the archive's facts for its manifest entry, and the warnings of gathering them."""
    stream = open_dump(run, command, env, chosen, tmp_dir)
    if isinstance(stream, str):
        yield DumpFailure(target, f"{failed}: {stream}")
        return

    def check(ended: Ended) -> tuple[str, ...]:
        result = outcome(ended)
        if result.error is not None:
            raise DumpError(f"{failed}: {result.error}")
        return (*facts[1], *result.warnings)

    yield from stream.pipe.archive(target, extension, check=check, facts=facts[0])


@hookimpl
def corral_source_restore(job: JobConfig, storage: Any, target: str, run: RunContext,
                          request: RestoreRequest) -> list[str] | None:  # fmt: skip
    """Into a server with pg_restore (psql for plain SQL); ``--to DIR``: the core fetches the archive."""
    return restore_dump(job, storage, target, run, request)


@hookimpl
def corral_source_drill(job: JobConfig, storage: Any, target: str, run: RunContext,
                        request: DrillRequest) -> DrillReport:  # fmt: skip
    """Into a throwaway server (or ``drill: server``), tables and rows compared, checks run (see
    :mod:`corral_source_postgresql.drill`)."""
    from corral_source_postgresql.drill import drill_dump

    return drill_dump(job, storage, target, run, request)


@hookimpl
def corral_source_doctor(source: DumpSource, tmp_dir: Path, run: RunContext) -> list[Any]:
    """``corral doctor``: psql, pg_dump and pg_dumpall against the server's major version, the databases (see
    :mod:`corral_source_postgresql.doctor`)."""
    from corral_source_postgresql.doctor import check_dump

    return check_dump(source, tmp_dir, run)
