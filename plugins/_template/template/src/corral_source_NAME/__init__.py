"""The ``NAME`` job type: a gzip copy of each target file (replace with your own dump)."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterator
from pathlib import Path

from pydantic import Field

from corral import Archive, DumpFailure, DumpResult, JobConfig, RunContext, SourceOptions, SourceSchema, hookimpl


class NAMESource(SourceOptions):
    """The keys of one item of the job's ``sources``."""

    target: list[str] = Field(min_length=1, description="files to copy", json_schema_extra={"example": ["/etc/hosts"]})


@hookimpl
def corral_source_schema() -> SourceSchema:
    # extensions: every archive extension this source makes; rotation deletes only archives with one of them
    return SourceSchema(source=NAMESource, group="databases", extensions=("gz",))


@hookimpl
def corral_source_dump(job: JobConfig, source: NAMESource, tmp_dir: Path, run: RunContext) -> Iterator[DumpResult]:
    for target in source.target:
        path = Path(target)
        name = path.name or "root"
        archive = tmp_dir / f"{name}.gz"
        try:
            with path.open("rb") as src, gzip.open(archive, "wb") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
        except OSError as exc:
            yield DumpFailure(name, f"cannot read `{path}`: {exc.strerror}")
            continue
        yield Archive(path=archive, target=name, extension="gz")
