"""``corral --debug`` (or ``CORRAL_DEBUG=1``): the traceback behind an error that corral reports in one line.

Every place that turns an exception into a line of a report calls :func:`explain`. An expected failure (a
:class:`~corral.errors.CorralError`, an ``OSError`` such as a full disk or a refused connection) reads as it
always did; any other exception is a bug, of a plugin or of corral, and its line names where it was raised
(``ZeroDivisionError: division by zero (corral_sqlite/source.py:42; --debug shows the traceback)``) so that a
user can report it. With debug on, the whole traceback of every explained error is logged at ERROR (stderr and
the log file, masked as every log line is) or, before logging is set up, printed on stderr.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

ENV = "CORRAL_DEBUG"
_SHOWN = "_corral_traceback_shown"  # set on an exception whose traceback was shown: once is enough
_forced = False


def enable() -> None:
    """``corral --debug``: tracebacks for the rest of the process."""
    global _forced
    _forced = True


def enabled() -> bool:
    """``--debug`` was given, or ``CORRAL_DEBUG`` holds anything but empty or ``0``."""
    return _forced or os.environ.get(ENV, "").strip() not in ("", "0")


def expected(exc: BaseException) -> bool:
    """A failure corral and its plugins foresee (their messages say all: a full disk, a refused connection, a
    plugin's missing dependency), rather than a bug."""
    from corral.errors import CorralError

    return isinstance(exc, CorralError | OSError | ImportError)


def describe(exc: BaseException) -> str:
    """The error in one line: a CorralError's message, else ``Type: message``; a bug's also says where it was
    raised. Notes corral added to it (a temp file left behind, say) follow."""
    from corral.errors import CorralError

    text = str(exc).strip().splitlines()
    message = text[0] if text else ""
    notes = "".join(f"; {note}" for note in getattr(exc, "__notes__", ()) if isinstance(note, str))
    if isinstance(exc, CorralError) and message:
        return message + notes
    line = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    where = "" if expected(exc) else origin(exc)
    if where:
        line += f" ({where})" if enabled() else f" ({where}; --debug shows the traceback)"
    return line + notes


def explain(exc: BaseException, mask: Callable[[str], str] | None = None) -> str:
    """:func:`describe`, after showing the traceback when debugging (:func:`report`)."""
    report(exc, mask)
    return describe(exc)


def report(exc: BaseException, mask: Callable[[str], str] | None = None) -> None:
    """With debug on, the traceback of ``exc`` (its causes included, never local variables) at ERROR in corral's
    log, which masks the config's secrets; before the log is set up, on stderr, through ``mask`` when given."""
    if not enabled() or getattr(exc, _SHOWN, False):
        return
    import traceback

    text = "".join(traceback.format_exception(exc)).rstrip()
    if mask is not None:
        text = mask(text)
    with contextlib.suppress(AttributeError):  # an exception class with __slots__
        setattr(exc, _SHOWN, True)
    log = logging.getLogger("corral")
    if log.handlers:
        log.error("%s", text)
    else:
        print(text, file=sys.stderr, flush=True)


def origin(exc: BaseException) -> str:
    """``package/module.py:LINE`` of the innermost frame of ``exc`` outside Python's own library (the plugin's
    line that called ``json.loads``, not json's line that raised); empty without a traceback."""
    frames = _walk(exc)
    if not frames:
        return ""
    outside = [(frame, line) for frame, line in frames if not _in_stdlib(frame.f_code.co_filename)]
    frame, line = (outside or frames)[-1]
    return f"{_relative(frame)}:{line}"


def _walk(exc: BaseException) -> list[tuple[FrameType, int]]:
    import traceback

    return [(frame, line) for frame, line in traceback.walk_tb(exc.__traceback__) if line is not None]


def _in_stdlib(filename: str) -> bool:
    import sysconfig

    if filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>
        return True
    if "-packages" in filename:  # site-packages, dist-packages: installed distributions
        return False
    return any(filename.startswith(root + os.sep) for root in {sysconfig.get_path("stdlib"),
                                                                sysconfig.get_path("platstdlib")} if root)


def _relative(frame: FrameType) -> str:
    """The file as its module names it: ``corral_sqlite/source.py`` for the module ``corral_sqlite.source``."""
    path = Path(frame.f_code.co_filename)
    module = str(frame.f_globals.get("__name__") or "")
    depth = 1 if module in ("", "__main__") else module.count(".") + 1 + (path.name == "__init__.py")
    return "/".join(path.parts[-depth:])
