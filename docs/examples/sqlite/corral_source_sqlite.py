"""corral source ``sqlite``: one compressed SQL dump per database file a target glob matches.

Restore with the standard tools: ``zstd -dc app_2026-03-01_03-00-00.sql.zst | sqlite3 app.db``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

from pydantic import Field

from corral import (
    Codec,
    CompressedSource,
    DumpError,
    DumpFailure,
    DumpResult,
    JobConfig,
    RunContext,
    SourceSchema,
    compressed,
    hookimpl,
    targets,
    with_compressions,
)


class SqliteSource(CompressedSource):
    """One item of ``sources``: ``target``, plus the keys every source shares (``name``, ``gzip``, ``compression``)."""

    target: list[str] = Field(
        min_length=1, description="database files or globs; each match is its own archive",
        json_schema_extra={"example": ["/srv/*/app.db"]},
    )


@hookimpl
def corral_source_schema() -> SourceSchema:
    return SourceSchema(source=SqliteSource, group="databases", extensions=with_compressions("sql"))


@hookimpl
def corral_source_dump(job: JobConfig, source: SqliteSource, tmp_dir: Path, run: RunContext) -> Iterator[DumpResult]:
    if shutil.which("sqlite3") is None:
        raise DumpError("the sqlite3 program is not installed (apt install sqlite3)")
    codec = Codec.named(source.codec_name)
    matches, unmatched = targets.named(source.target)  # /srv/*/app.db: shop, blog (the part the glob matched)
    for pattern in unmatched:
        yield DumpFailure(pattern, "matches no file")
    for path, name in matches.items():
        # .dump reads inside one transaction (consistent while the application writes); -readonly changes nothing;
        # it exits 0 even on a file that is no database, so a query (its output thrown away) goes first
        probe = [".output /dev/null", "SELECT count(*) FROM sqlite_schema", ".output stdout"]
        dump = ["sqlite3", "-readonly", "-bail", str(path), *probe, ".dump"]
        yield from compressed(run, dump, codec.argv, tmp_dir).archive(name, "sql" + codec.suffix)
