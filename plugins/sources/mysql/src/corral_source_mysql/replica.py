"""``is_slave``: pause a replica's SQL thread while a dump reads it, and always resume what was paused.

The statements exist in two spellings: ``STOP SLAVE`` (MariaDB, MySQL before 8.4) and ``STOP REPLICA``
(MySQL 8.0.22+, MariaDB 10.5+). The first is tried first; a syntax error falls back to the second.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

from corral import RunContext
from corral_source_mysql.client import SQLError, query


def _either(run: RunContext, client: str, options: Path, old: str, new: str, names: bool = False,
            pass_fds: tuple[int, ...] = (), own: bool = True) -> list[str]:  # fmt: skip
    try:
        return query(run, client, options, old, names=names, pass_fds=pass_fds, own=own)
    except SQLError as exc:
        if "1064" not in str(exc) and "syntax" not in str(exc).lower():
            raise
        return query(run, client, options, new, names=names, pass_fds=pass_fds, own=own)


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


def resume(run: RunContext, client: str, options: Path, pass_fds: tuple[int, ...] = (), own: bool = True) -> None:
    _either(run, client, options, "START SLAVE SQL_THREAD", "START REPLICA SQL_THREAD", pass_fds=pass_fds, own=own)


class ResumeAfter(threading.Thread):
    """Resume the SQL thread as soon as ``dump`` exits, however it ends (done, failed, stopped by SIGTERM), while
    the storages still commit: the replica lags for the dump only.

    The dump streams to the core, which is busy elsewhere when a SIGTERM unwinds the run (and removes the work
    folder with the option file in it): this thread keeps the option file open and hands it to the client as
    ``/proc/self/fd/N``, so the resume works even then, in a client the run does not stop. Not a daemon: corral
    exits only after it resumed.
    """

    def __init__(self, run: RunContext, client: str, options: Path, dump: subprocess.Popen[bytes]) -> None:
        super().__init__(name="corral-mysql-resume")
        self.run_context, self.client, self.dump = run, client, dump
        self.fd = os.open(options, os.O_RDONLY | os.O_CLOEXEC)
        self.error = ""

    def run(self) -> None:
        try:
            self.dump.wait()
            # not the run's own program: an interrupted run stops those, and this one must finish
            resume(self.run_context, self.client, Path(f"/proc/self/fd/{self.fd}"), pass_fds=(self.fd,), own=False)
        except SQLError as exc:
            self.error = str(exc)
        finally:
            os.close(self.fd)
