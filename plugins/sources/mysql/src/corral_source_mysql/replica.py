"""``is_slave``: pause a replica's SQL thread while a dump reads it, and always resume what was paused.

The statements exist in two spellings: ``STOP SLAVE`` (MariaDB, MySQL before 8.4) and ``STOP REPLICA``
(MySQL 8.0.22+, MariaDB 10.5+). The first is tried first; a syntax error falls back to the second.
"""

from __future__ import annotations

from pathlib import Path

from corral import RunContext
from corral_source_mysql.client import SQLError, query


def _either(run: RunContext, client: str, options: Path, old: str, new: str, names: bool = False) -> list[str]:
    try:
        return query(run, client, options, old, names=names)
    except SQLError as exc:
        if "1064" not in str(exc) and "syntax" not in str(exc).lower():
            raise
        return query(run, client, options, new, names=names)


def sql_thread_running(run: RunContext, client: str, options: Path) -> bool | None:
    """True or False for a replica's SQL thread; None when the server replicates from nobody."""
    lines = _either(run, client, options, "SHOW SLAVE STATUS\\G", "SHOW REPLICA STATUS\\G", names=True)
    for line in lines:
        key, _, value = line.strip().partition(":")
        if key in ("Slave_SQL_Running", "Replica_SQL_Running"):
            return value.strip().lower() == "yes"
    return None


def pause(run: RunContext, client: str, options: Path) -> None:
    _either(run, client, options, "STOP SLAVE SQL_THREAD", "STOP REPLICA SQL_THREAD")


def resume(run: RunContext, client: str, options: Path) -> None:
    _either(run, client, options, "START SLAVE SQL_THREAD", "START REPLICA SQL_THREAD")
