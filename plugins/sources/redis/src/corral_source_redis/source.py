"""The ``redis`` job type: one RDB snapshot per source, restorable by placing it as ``dump.rdb``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

from corral import Archive, DumpError, RunContext, hookimpl
from corral.archive import with_compressions
from corral.config.models import JobConfig, SourceSchema
from corral_source_redis.compression import codec
from corral_source_redis.options import RedisSource
from corral_source_redis.snapshot import SnapshotError, take_snapshot


@hookimpl
def corral_source_schema() -> SourceSchema:
    return SourceSchema(source=RedisSource, group="databases", extensions=with_compressions("rdb"))


@hookimpl
def corral_source_dump(source: RedisSource, tmp_dir: Path, run: RunContext, job: JobConfig) -> Iterator[Archive]:
    if shutil.which("redis-cli") is None:
        raise DumpError("`redis-cli` is not installed (apt install redis-tools)")
    chosen = codec(source.codec_name)
    if chosen.program and shutil.which(chosen.program) is None:
        raise DumpError(f"`{chosen.program}` is not installed (apt install {chosen.program})")
    connect = source.connect
    target = connect.archive_target
    archive = tmp_dir / f"{target}.{chosen.extension}"
    try:
        snapshot = take_snapshot(connect, archive, chosen, run)
    except SnapshotError as exc:
        raise DumpError(f"redis {connect.where}: {exc}") from None
    except OSError as exc:
        raise DumpError(f"redis {connect.where}: {exc.strerror or exc}") from None
    run.log.info("redis %s: snapshot of %d bytes", connect.where, snapshot.size)
    yield Archive(path=archive, target=target, extension=chosen.extension)
