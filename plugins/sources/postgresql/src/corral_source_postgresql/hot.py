"""``postgresql_hot``: a physical copy of the whole cluster with pg_basebackup, restorable by unpacking it into an
empty data directory and starting the server.

pg_basebackup cannot stream its WAL into a tar on stdout (``-X stream`` needs a directory; ``-X fetch`` to stdout
fails when the server recycles WAL during a long backup, and cannot hold several tablespaces). So it writes
tar format with streamed WAL into the job's temp dir, compressing on the fly (``--compress=client-zstd``,
``client-gzip``); what it leaves plain (PostgreSQL 15 streams WAL uncompressed beside a zstd base) is compressed
next, and the pieces are packed into one uncompressed tar, streamed to the storages as tar writes it (the
packed archive never touches tmp_dir, the pieces do): ``base.tar.zst``, ``pg_wal.tar.zst``, one
``OID.tar.zst`` per extra tablespace and ``backup_manifest``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from corral import (
    DrillReport,
    DrillRequest,
    DumpError,
    DumpResult,
    Ended,
    Inventory,
    JobConfig,
    RestoreRequest,
    RunContext,
    SourceSchema,
    compressed,
    hookimpl,
)
from corral_source_postgresql.codecs import Codec, codec
from corral_source_postgresql.connection import Server, client_env, first_error, source_prefix
from corral_source_postgresql.facts import cluster_facts
from corral_source_postgresql.hot_restore import restore_hot
from corral_source_postgresql.inventory import inventory
from corral_source_postgresql.options import HotSource
from corral_source_postgresql.pipeline import cause
from corral_source_postgresql.programs import locate

TARGET = "basebackup"
EXTENSION = "tar"
CLIENT_COMPRESSION_SINCE = 15  # --compress=client-METHOD


@hookimpl
def corral_source_schema() -> SourceSchema:
    return SourceSchema(source=HotSource, group="databases", extensions=(EXTENSION,))


@hookimpl
def corral_source_dump(job: JobConfig, source: HotSource, tmp_dir: Path, run: RunContext) -> Iterator[DumpResult]:
    server = Server.from_config(source.connect)
    chosen = codec(source.codec_name)
    bins = locate("pg_basebackup", "tar", *filter(None, [chosen.program]))
    target = source_prefix(job, source, server) + TARGET
    parts = tmp_dir / f"{target}.parts"
    shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir(mode=0o700, parents=True)
    try:
        pg_basebackup = bins["pg_basebackup"]
        major = _major_version(run, pg_basebackup)
        command = basebackup_command(pg_basebackup, server, source, chosen, parts, major, run.now.isoformat())
        with client_env(server, tmp_dir) as env:
            facts = cluster_facts(run, _psql(), pg_basebackup, server, env)
            done = run.run(command, env=env, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            cause = first_error(done.stderr, f"pg_basebackup exited with code {done.returncode}")
            raise DumpError(f"pg_basebackup from {server.label} failed: {cause}")
        _compress_plain_tars(run, parts, chosen)
        yield from _pack(run, parts, target, facts)
    finally:
        shutil.rmtree(parts, ignore_errors=True)


def basebackup_command(
    pg_basebackup: str, server: Server, source: HotSource, chosen: Codec, parts: Path, major: int, label: str
) -> list[str]:
    """The user's extra keys come after the defaults they may change (``--checkpoint``) and before the options
    the restore steps rely on (tar format with streamed WAL into ``parts``)."""
    command = [pg_basebackup, "-w", "--checkpoint=fast", "--no-sync", f"--label=corral {label}",
               *source.extra_args, "-D", str(parts), "--format=tar", "--wal-method=stream"]
    if chosen.argv and major >= CLIENT_COMPRESSION_SINCE:
        command.append(f"--compress=client-{chosen.name}")
    return [*command, "-d", server.conninfo()]


def _major_version(run: RunContext, pg_basebackup: str) -> int:
    done = run.run([pg_basebackup, "--version"], stdin=subprocess.DEVNULL)
    match = re.search(rb"(\d+)(?:\.\d+)?", done.stdout)
    return int(match[1]) if match else 0


def _compress_plain_tars(run: RunContext, parts: Path, chosen: Codec) -> None:
    if not chosen.in_place:
        return
    for plain in sorted(parts.glob("*.tar")):
        done = run.run([*chosen.in_place, str(plain)], stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            cause = first_error(done.stderr, f"{chosen.in_place[0]} exited with code {done.returncode}")
            raise DumpError(f"cannot compress `{plain.name}` of the base backup: {cause}")


def _psql() -> str | None:
    try:
        return locate("psql")["psql"]
    except DumpError:
        return None


def _pack(run: RunContext, parts: Path, target: str,
          facts: tuple[dict[str, Any], tuple[str, ...]]) -> Iterator[DumpResult]:  # fmt: skip
    """The pieces packed into one tar on the way to the storages: the packed archive is never in tmp_dir.
    ``facts``: the archive's facts and the warnings of gathering them."""
    names = sorted(path.name for path in parts.iterdir())
    command = ["tar", "--create", "--file", "-", "--directory", str(parts), "--", *names]
    pipe = compressed(run, command, (), parts.parent, describe=cause)

    def check(ended: Ended) -> tuple[str, ...]:
        if ended.error:
            raise DumpError(f"cannot pack the base backup into `{target}.{EXTENSION}`: {ended.error}")
        return facts[1]

    yield from pipe.archive(target, EXTENSION, check=check, facts=facts[0])


@hookimpl
def corral_source_inventory(source: HotSource, tmp_dir: Path, run: RunContext) -> Inventory:
    """Coverage: a physical copy of the whole cluster holds every database on the server."""
    return inventory(run, source.connect, tmp_dir, list)


@hookimpl
def corral_source_restore(storage: Any, run: RunContext, request: RestoreRequest) -> list[str]:
    """``--to DIR``: a data directory that ``postgres -D DIR`` starts."""
    return restore_hot(storage, run, request)


@hookimpl
def corral_source_drill(job: JobConfig, storage: Any, run: RunContext, request: DrillRequest) -> DrillReport:
    """Unpacked into the scratch folder, started, databases and sizes compared (see
    :mod:`corral_source_postgresql.drill`)."""
    from corral_source_postgresql.drill import drill_hot

    return drill_hot(job, storage, run, request)


@hookimpl
def corral_source_doctor(job: JobConfig, source: HotSource, tmp_dir: Path, run: RunContext) -> list[Any]:
    """``corral doctor``: pg_basebackup against the server's major version, the replication right, room for the
    pieces in the job's tmp_dir (see :mod:`corral_source_postgresql.doctor`)."""
    from corral_source_postgresql.doctor import check_hot

    return check_hot(source, tmp_dir, job.tmp_dir, run)
