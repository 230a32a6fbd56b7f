"""The ``redis`` job type: one RDB snapshot per source, restorable by placing it as ``dump.rdb``, streamed to every
storage (nothing of it in tmp_dir)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from corral import (
    DrillReport,
    DrillRequest,
    DumpError,
    DumpResult,
    Ended,
    JobConfig,
    RestoreRequest,
    RunContext,
    SourceSchema,
    hookimpl,
    with_compressions,
)
from corral_source_redis import facts
from corral_source_redis.compression import codec
from corral_source_redis.options import RedisSource
from corral_source_redis.snapshot import SnapshotError, SnapshotStream


@hookimpl
def corral_source_schema() -> SourceSchema:
    return SourceSchema(source=RedisSource, group="databases", extensions=with_compressions("rdb"))


@hookimpl
def corral_source_dump(source: RedisSource, tmp_dir: Path, run: RunContext, job: JobConfig) -> Iterator[DumpResult]:
    if shutil.which("redis-cli") is None:
        raise DumpError("`redis-cli` is not installed (apt install redis-tools)")
    chosen = codec(source.codec_name)
    if chosen.program and shutil.which(chosen.program) is None:
        raise DumpError(f"`{chosen.program}` is not installed (apt install {chosen.program})")
    connect = source.connect
    target = connect.archive_target
    known, warnings = facts.snapshot_facts(run, connect)
    try:
        snapshot = SnapshotStream(connect, chosen, run, tmp_dir)
    except OSError as exc:
        raise DumpError(f"redis {connect.where}: {exc.strerror or exc}") from None
    snapshot.started.wait()
    if not snapshot.flowing:  # refused before any byte (login, address): the source fails, as it always did
        try:
            snapshot.finish()
        except SnapshotError as exc:
            raise DumpError(f"redis {connect.where}: {exc}") from None

    def check(ended: Ended) -> tuple[str, ...]:
        try:
            size = snapshot.finish()
        except SnapshotError as exc:
            raise DumpError(f"redis {connect.where}: {exc}") from None
        run.log.info("redis %s: snapshot of %d bytes", connect.where, size)
        return warnings

    yield from snapshot.pipe.archive(target, chosen.extension, check=check, facts=known)


@hookimpl
def corral_source_restore(job: JobConfig, storage: Any, target: str, run: RunContext,
                          request: RestoreRequest) -> list[str]:
    """``--to DIR``: a ``dump.rdb`` for ``redis-server --dir DIR``; else the keys into a running server (see
    :mod:`corral_source_redis.restore`)."""
    from corral_source_redis.restore import restore

    return restore(job, storage, target, run, request)


@hookimpl
def corral_source_drill(job: JobConfig, storage: Any, target: str, run: RunContext,
                        request: DrillRequest) -> DrillReport:
    """The snapshot loaded into a throwaway ``redis-server`` (or the job's ``drill: server``), keys per database
    compared with the facts, then the checks (see :mod:`corral_source_redis.drill`)."""
    from corral_source_redis.drill import drill

    return drill(job, storage, target, run, request)


@hookimpl
def corral_source_doctor(source: RedisSource, run: RunContext) -> list[Any]:
    """``corral doctor``: redis-cli, the server's answer and version, the codec (see :mod:`.doctor`)."""
    from corral_source_redis.doctor import check

    return check(source, run)
