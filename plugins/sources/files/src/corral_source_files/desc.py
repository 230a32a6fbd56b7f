"""``desc_files``: one tar archive per target glob match, restorable with plain ``tar -xf``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from corral import (
    Codec,
    CompressedSource,
    DrillReport,
    DrillRequest,
    DumpError,
    DumpFailure,
    DumpResult,
    JobConfig,
    RestoreRequest,
    RunContext,
    SourceSchema,
    Storage,
    hookimpl,
    own_backup,
    targets,
    with_compressions,
)
from corral_source_files import tar
from corral_source_files.drill import drill_files
from corral_source_files.restore import fetch_and_extract
from corral_source_files.targets import member_excludes, target_for

EXTENSIONS = with_compressions("tar")  # tar, tar.gz, tar.zst: tar through the core's codecs


class FilesSource(CompressedSource):
    target: list[str] = Field(
        min_length=1,
        description="paths or globs; each match becomes its own archive",
        json_schema_extra={"example": ["/var/www/*/"]},
    )
    excludes: list[str] = Field(
        default=[],
        description="relative: inside each target; absolute: that path; globs allowed",
        json_schema_extra={
            "example": [],
            # never `upload` or the like: an admin who edits only `target` would lose every file users uploaded
            "template_hint": "e.g. [bitrix/cache, bitrix/managed_cache]: only caches the site rebuilds, never "
                             "user data such as upload",
        },
    )


    @field_validator("target")
    @classmethod
    def _absolute(cls, patterns: list[str]) -> list[str]:
        relative = [pattern for pattern in patterns if not pattern.startswith("/")]
        if relative:  # cron, systemd and a shell each start corral in another folder
            raise ValueError(f"`{relative[0]}` is not an absolute path: give the full path (/var/www/*/)")
        return patterns


@hookimpl
def corral_source_schema() -> SourceSchema:
    return SourceSchema(source=FilesSource, group="files", extensions=EXTENSIONS)


def check_tools(source: FilesSource) -> Codec:
    """The codec to use, once tar and its compressor are known to be installed."""
    if shutil.which("tar") is None:
        raise DumpError("GNU tar is not installed (apt install tar)")
    chosen = Codec.named(source.codec_name)
    if chosen.program and shutil.which(chosen.program) is None:
        raise DumpError(f"`{chosen.program}` is not installed (apt install {chosen.name})")
    return chosen


@hookimpl
def corral_source_dump(source: FilesSource, tmp_dir: Path, run: RunContext, job: JobConfig) -> Iterator[DumpResult]:
    chosen = check_tools(source)
    matches, unmatched = targets.named(source.target)
    for pattern in unmatched:
        yield DumpFailure(pattern, "target matches no file or folder")
    for path, name in matches.items():  # each a stream from tar: nothing on local disk
        facts: dict[str, Any] = {}
        pipe, check = tar.stream(run, tmp_dir, path, member_excludes(path, source.excludes), chosen, facts=facts)
        yield from pipe.archive(name, f"tar{chosen.suffix}", check=check, facts=facts)


@hookimpl
def corral_source_restore(job: JobConfig, storage: Storage, target: str, date: datetime, dest: Path | None,
                          run: RunContext, request: RestoreRequest) -> list[str]:
    """Extract the newest archive of the target made at or before ``date`` into ``dest`` with plain tar."""
    if dest is None:
        raise DumpError("a files archive is restored into a folder: give --to DIR")
    found = (own_backup(f, storage.root, EXTENSIONS) for f in storage.list())
    backups = sorted(b for b in found if b and b.target == target and b.made <= date)
    if not backups:
        raise DumpError(f"no archive of `{target}` made on or before {date:%Y-%m-%d %H:%M:%S} on {storage.name}")
    return fetch_and_extract(run, storage, [backups[-1].path], dest, incremental=False, tmp_dir=job.tmp_dir,
                             request=request)


@hookimpl
def corral_source_target_for(job: JobConfig, given: str) -> str | None:
    return target_for(job.sources, given)


@hookimpl
def corral_source_drill(storage: Storage, run: RunContext, request: DrillRequest) -> DrillReport:
    return drill_files(run, storage, [request.archive.path], request, incremental=False)


@hookimpl
def corral_source_doctor(source: Any) -> list[Any]:
    """``corral doctor``: GNU tar, the codec, what each target matches now (see :mod:`.doctor`)."""
    from corral_source_files.doctor import check

    return check(source)
