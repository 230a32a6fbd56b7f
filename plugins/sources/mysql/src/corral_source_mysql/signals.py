"""SIGTERM during a restore unwinds like an error, so a database corral created is dropped again.

``corral start`` and ``corral drill`` turn SIGTERM into :class:`corral.errors.Interrupted` themselves; ``corral
restore`` leaves it to Python's default, which ends the process on the spot (its programs die with it) and left
a half-loaded database behind. :func:`interruptible` installs the same handler where nobody did;
:func:`shielded` ignores SIGTERM and SIGINT while the cleanup runs.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from corral import RunContext
from corral.errors import Interrupted

_STOPS = (signal.SIGTERM, signal.SIGINT)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def interruptible(run: RunContext) -> Iterator[None]:
    """SIGTERM stops the run's programs and raises :class:`Interrupted` in the block (when it has no handler)."""
    if not _main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        run.signal_processes()
        raise Interrupted(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """SIGTERM and SIGINT are ignored while the block (a cleanup) runs."""
    if not _main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda _signum, _frame: None) for sig in _STOPS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
