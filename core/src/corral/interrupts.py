"""SIGTERM and SIGINT during a restore unwind like an error, so a database the restore created is dropped again.

``corral start`` and ``corral drill`` turn SIGTERM and SIGINT into :class:`corral.errors.Interrupted` themselves;
``corral restore`` leaves SIGTERM to the default, which ends the process on the spot (its programs die with it)
and Ctrl-C to Python's KeyboardInterrupt, which kills no program. :func:`interruptible` installs a handler for
both where the command has none of its own; :func:`shielded` ignores both while the cleanup runs.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from corral.errors import Interrupted
from corral.run import RunContext

_STOPS = (signal.SIGTERM, signal.SIGINT)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def interruptible(run: RunContext) -> Iterator[None]:
    """SIGTERM and SIGINT stop the run's programs and raise :class:`Interrupted` in the block, unless the command
    handles them itself already (or this is not the main thread)."""
    defaults = (signal.SIG_DFL, signal.default_int_handler)
    wanted = [sig for sig in _STOPS if signal.getsignal(sig) in defaults] if _main_thread() else []

    def handler(signum: int, _frame: FrameType | None) -> None:
        run.signal_processes()
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in wanted}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """SIGTERM and SIGINT are ignored while the block (a cleanup such as dropping a half-loaded database) runs."""
    if not _main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda _signum, _frame: None) for sig in _STOPS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
