"""Programs corral starts die with it, even when corral itself is killed with ``kill -9``.

Two layers, as no single Linux mechanism covers every case:

- every program started through :meth:`corral.RunContext.popen` from the main thread asks the kernel for
  ``SIGKILL`` when corral dies (``PR_SET_PDEATHSIG``; the kernel ties it to the *thread* that started the
  child, so programs started from worker threads rely on the next layer);
- every program inherits ``CORRAL_RUN_ID`` in its environment, and the lock records the run id: the next run
  that takes over a dead run's lock kills whatever still carries that id (a dump script's own children, which
  the first layer does not reach).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import secrets
import signal
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("corral")

RUN_ID_VARIABLE = "CORRAL_RUN_ID"
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl


def new_run_id() -> str:
    """A random id for this run, exported to every program it starts."""
    run_id = secrets.token_hex(8)
    os.environ[RUN_ID_VARIABLE] = run_id
    return run_id


def die_with_corral() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child die with corral, or None when called off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()

    def arm() -> None:  # runs in the child between fork and exec: no imports, no allocations worth naming
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # corral died before the request took effect
            os._exit(137)

    return arm


def _run_id_of(pid: str) -> str | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    prefix = f"{RUN_ID_VARIABLE}=".encode()
    for item in environ.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix):].decode(errors="replace")
    return None


def kill_leftovers(run_id: str, session: str = "") -> list[int]:
    """SIGKILL every process still carrying a dead run's id; returns their pids.

    ``session``: the dead run's session id (from its lock record). A process in another session detached on
    purpose (``setsid``): a daemon a dump script started, such as the database a snapshot script restarted with
    ``pg_ctl start``. It is left running and named in a warning: killing it could take production down.
    """
    if not run_id:
        return []
    killed = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid() or _run_id_of(entry) != run_id:
            continue
        try:
            command = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            command = "?"
        try:
            detached = session.isdigit() and os.getsid(int(entry)) != int(session)
        except OSError:  # gone meanwhile
            continue
        if detached:
            log.warning("pid %s (`%s`), started by a run that died, runs in a session of its own (a daemon a dump "
                        "script started?): left running", entry, command)
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(entry), signal.SIGKILL)
            killed.append(int(entry))
            log.warning("killed pid %s (`%s`), left running by a run that died", entry, command)
    return killed
