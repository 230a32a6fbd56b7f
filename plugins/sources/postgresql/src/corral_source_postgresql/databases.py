"""Which databases a ``postgresql`` source dumps: ``all`` expanded on the server, or the names given."""

from __future__ import annotations

import subprocess

from corral import DumpError, RunContext
from corral_source_postgresql.connection import Server, first_error

# template0 and template1 are never dumped by `all`; a database that refuses connections cannot be dumped.
LIST_QUERY = "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname"
MAINTENANCE_DATABASES = ("postgres", "template1")  # where to connect for the list, like pg_dumpall


def list_databases(run: RunContext, psql: str, server: Server, env: dict[str, str]) -> list[str]:
    """Every database that accepts connections; this is also the source's connection check.

    Raises DumpError naming the server and libpq's reason (wrong password, unreachable...).
    """
    error = ""
    for dbname in MAINTENANCE_DATABASES:
        command = [psql, "-X", "-w", "-q", "-A", "-t", "-0", "-v", "ON_ERROR_STOP=1",
                   "-d", server.conninfo(dbname), "-c", LIST_QUERY]
        done = run.run(command, env={**env, "PGCLIENTENCODING": "UTF8"}, stdin=subprocess.DEVNULL)
        if done.returncode == 0:
            text = done.stdout.decode("utf-8", errors="surrogateescape")
            return [name for name in text.split("\0") if name]
        error = first_error(done.stderr, f"psql exited with code {done.returncode}")
        if f'database "{dbname}" does not exist' not in error:
            break
    raise DumpError(f"{server.label}: cannot connect: {error}")


def select(targets: list[str], excludes: list[str], existing: list[str]) -> tuple[list[str], list[str]]:
    """(databases to dump, requested names that do not exist). ``excludes`` applies to ``all`` only."""
    if targets == ["all"]:
        return [name for name in existing if name not in excludes], []
    wanted = list(dict.fromkeys(targets))
    return [name for name in wanted if name in existing], [name for name in wanted if name not in existing]
