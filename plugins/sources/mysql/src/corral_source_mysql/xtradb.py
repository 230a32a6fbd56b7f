"""``mysql_xtradb``: a hot physical backup of a whole instance with mariabackup (or Percona xtrabackup).

The tool copies the data files while the server runs and streams them in xbstream format through the
compressor straight to the storages (nothing of it in tmp_dir): one archive per source, restored with
``mbstream -x`` (``xbstream -x``), ``--prepare`` and ``--copy-back`` (see the README).
It reads the data directory, so it runs on the database server itself.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
import tempfile
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
    with_compressions,
)
from corral_source_mysql import drill, facts, restore, stream, tools
from corral_source_mysql.inventory import inventory
from corral_source_mysql.optionfile import option_file
from corral_source_mysql.options import XtradbSource

# mariabackup reads [client] and [mariabackup]; xtrabackup reads [client] (8.0) and [xtrabackup].
OPTION_GROUPS = ("client", "xtrabackup")


@hookimpl
def corral_source_schema() -> SourceSchema:
    return SourceSchema(source=XtradbSource, group="databases", extensions=with_compressions("xbstream"))


def backup_command(tool: str, options: Path, work_dir: Path, source: XtradbSource) -> list[str]:
    """``--defaults-file`` first (it carries the password); the stream goes to stdout."""
    replica = ["--safe-slave-backup", "--slave-info"] if source.is_slave else []
    return [tool, f"--defaults-file={options}", "--backup", "--stream=xbstream", f"--target-dir={work_dir}",
            *replica, *shlex.split(source.extra_keys)]


@hookimpl
def corral_source_dump(job: JobConfig, source: XtradbSource, tmp_dir: Path, run: RunContext) -> Iterator[DumpResult]:
    tool = tools.find(tools.BACKUP_TOOLS, apt="mariadb-backup")
    chosen = stream.codec(source.codec_name)
    target = source.archive_target()
    extension = "xbstream" + chosen.suffix
    # --target-dir gets only the few small files the tool writes beside its stream (checkpoints, info: KB)
    work_dir = Path(tempfile.mkdtemp(prefix="xtradb-work-", dir=tmp_dir))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, work_dir, ignore_errors=True)
        options = cleanup.enter_context(option_file(tmp_dir, source.connect, OPTION_GROUPS))
        known, warnings = facts.instance_facts(run, options, tool)
        pipe = compressed(run, backup_command(tool, options, work_dir, source), chosen.argv, tmp_dir,
                          describe=stream.cause)

        def check(ended: Ended) -> tuple[str, ...]:
            if ended.error:
                raise DumpError(f"{source.connect.where()}: {ended.error}")
            return warnings + tuple(left_out(ended.producer.stderr if ended.producer else ()))

        yield from pipe.archive(target, extension, check=check, facts=known)


_LEFT_OUT = re.compile(r"Error on \w+ table file open (\S+)")


def left_out(lines: tuple[str, ...]) -> list[str]:
    """A warning per table file mariabackup could not open and left out while exiting 0 (an Aria or MyISAM table
    whose files are links, ``DATA DIRECTORY``: ``Too many levels of symbolic links``): the archive lacks its rows,
    and a drill, which counts the tables by their definitions, would not see it."""
    found = dict.fromkeys(match[1] for line in lines if (match := _LEFT_OUT.search(line)))
    return [f"mariabackup could not open `{name}`: that table's rows are not in the backup (a MyISAM or Aria table "
            "whose files are links, DATA DIRECTORY or INDEX DIRECTORY, is left out: back it up with `mysql`)"
            for name in found]


@hookimpl
def corral_source_inventory(source: XtradbSource, tmp_dir: Path, run: RunContext) -> Inventory:
    """Coverage: a physical copy of the whole instance holds every database on the server."""
    return inventory(run, source.connect, tmp_dir, list)


@hookimpl
def corral_source_restore(storage: Any, target: str, dest: Path | None, run: RunContext,
                          request: RestoreRequest) -> list[str]:
    """Unpack and prepare the physical backup in ``--to DIR`` (see :mod:`corral_source_mysql.restore`)."""
    return restore.restore_physical(storage, target, dest, run, request)


@hookimpl
def corral_source_drill(storage: Any, target: str, run: RunContext, request: DrillRequest) -> DrillReport:
    """Prepared in the scratch folder, started there on a free port, compared and checked (:mod:`.drill`)."""
    return drill.drill_physical(storage, target, run, request)


@hookimpl
def corral_source_doctor(source: XtradbSource, tmp_dir: Path, run: RunContext) -> list[Any]:
    """``corral doctor``: mariabackup of the server's version, mbstream, the data directory here (:mod:`.doctor`)."""
    from corral_source_mysql import doctor

    return doctor.check_physical(source, tmp_dir, run)
