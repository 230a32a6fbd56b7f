"""What the checksum manifest records of a dump (``Archive.facts``, docs/verify.md): the versions of the server
and the dump tool, the database's size and each table's row estimate, so a restore drill compares like with like.

Gathered right before the dump with one client call per database (``SELECT VERSION()`` and one read of
``information_schema.TABLES``); a query that fails leaves fewer facts and a warning, never a failed dump.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from corral import DumpError, RunContext
from corral_source_mysql import client, tools

TIMEOUT = 60  # seconds for the statistics query: a server that slow to answer it gets a warning
# base tables only: a view holds no rows of its own, a sequence is one row
_TABLES = ("SELECT TABLE_NAME, TABLE_ROWS, DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES "
           "WHERE TABLE_SCHEMA = CONVERT(X'{hex}' USING utf8mb4) AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')")
SIZES = ("SELECT TABLE_SCHEMA, COUNT(*), SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES "
          "WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') "
          "AND TABLE_SCHEMA NOT IN ('information_schema', 'performance_schema') GROUP BY TABLE_SCHEMA")
_VERSIONS: dict[str, str] = {}  # program -> first line of its --version, asked once per run


def tool_version(run: RunContext, program: str) -> str | None:
    """The first line of ``program --version`` (``mariadb-dump from 11.4.2-MariaDB, client 10.19 ...``)."""
    if program not in _VERSIONS:
        try:
            done = run.run([program, "--version"], stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            return None
        lines = (done.stdout or done.stderr).decode("utf-8", "replace").strip().splitlines()  # mariabackup: stderr
        first = lines[0].strip() if done.returncode == 0 and lines else ""
        _VERSIONS[program] = first.replace(program, Path(program).name, 1)  # mariabackup names its full path
    return _VERSIONS[program] or None


def _number(value: str) -> int | None:
    return int(value) if value.isdigit() else None  # NULL: the engine keeps no count


def database_facts(run: RunContext, program: str, options: Path, dumper: str,
                   database: str) -> tuple[dict[str, Any], tuple[str, ...]]:  # fmt: skip
    """``{"server", "tool", "database", "bytes", "tables": {name: {"rows"}}}`` and the warning when the server
    did not answer (then only the tool and the database are known)."""
    facts: dict[str, Any] = {"server": None, "tool": tool_version(run, dumper), "database": database}
    statement = f"SELECT VERSION(); {_TABLES.format(hex=database.encode().hex())}"
    try:
        lines = client.query(run, program, options, statement, timeout=TIMEOUT)
    except client.SQLError as exc:
        return facts, (f"facts: cannot read the table statistics: {exc}",)
    facts["server"] = lines[0] if lines else None
    tables: dict[str, Any] = {}
    size = 0
    for line in lines[1:]:
        name, rows, length = line.split("\t")
        tables[client.unescape(name)] = {"rows": _number(rows)}
        size += _number(length) or 0
    facts.update(bytes=size, tables=dict(sorted(tables.items())))
    return facts, ()


def instance_facts(run: RunContext, options: Path, tool: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """``mysql_xtradb``: ``{"server", "tool", "databases": {name: {"tables", "bytes"}}}`` of the whole instance."""
    facts: dict[str, Any] = {"server": None, "tool": tool_version(run, tool)}
    try:
        program = tools.find(tools.CLIENTS, apt="mariadb-client")
        lines = client.query(run, program, options, f"SELECT VERSION(); {SIZES}", timeout=TIMEOUT)
    except (client.SQLError, DumpError) as exc:
        return facts, (f"facts: cannot read the table statistics: {exc}",)
    facts["server"] = lines[0] if lines else None
    databases = {}
    for line in lines[1:]:
        name, count, size = line.split("\t")
        databases[client.unescape(name)] = {"tables": _number(count), "bytes": _number(size)}
    facts["databases"] = dict(sorted(databases.items()))
    return facts, ()
