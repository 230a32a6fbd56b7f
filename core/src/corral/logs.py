"""The run's log: the article's info/error lines with time, level and job, to the log file and stderr.

Every record passes a filter that masks the config's secret values (:mod:`corral.masking`), so a password that
reaches a message (an error echoed by a client program, say) is never written anywhere.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from corral.masking import Masker
from corral.run import LogEntry

current_job: contextvars.ContextVar[str | None] = contextvars.ContextVar("corral_job", default=None)
FORMAT = "%(asctime)s [%(levelname)s] %(where)s%(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class _Context(logging.Filter):
    """Adds the job name and masks secrets in the message and the job name."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.mask = Masker(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        job = getattr(record, "job", None) or current_job.get()
        job = self.mask(job) if job else job
        record.job = job
        record.where = f"[{job}] " if job else ""
        record.msg, record.args = self.mask(record.getMessage()), None
        return True


class Collector(logging.Handler):
    """Keeps the run's records for the notifiers."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.entries: list[LogEntry] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.entries.append(
            LogEntry(datetime.fromtimestamp(record.created), record.levelname, getattr(record, "job", None),
                     record.getMessage())
        )


class _OwnFileHandler(logging.StreamHandler):
    """Appends to the log file only when it is the running user's own regular file (never through a symlink)."""

    def __init__(self, path: Path) -> None:
        from corral.workarea import open_own_file

        fd = open_own_file(path, os.O_WRONLY | os.O_APPEND, "log file")
        super().__init__(open(fd, "a", encoding="utf-8"))  # noqa: SIM115 (closed with the handler)
        self.path = path
        self.broken = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.broken:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        """A log file that cannot be written (its disk is full) is said once, in one line; the run goes on and
        the rest of its log reaches stderr and the notifiers only (logging would print a traceback per record)."""
        if self.broken:
            return
        self.broken = True
        error = sys.exc_info()[1]
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        with contextlib.suppress(OSError, ValueError):
            self.stream.close()  # drops what could not be written
        logging.getLogger("corral").error(
            "cannot write the log file `%s`: %s; the rest of this run's log goes to stderr and the notifiers only",
            self.path, reason or type(error).__name__)

    def close(self) -> None:
        try:
            with contextlib.suppress(OSError, ValueError):  # a full disk: what is left to flush is lost either way
                self.flush()
                self.stream.close()
        finally:
            super().close()


class _Libraries(logging.Handler):
    """Warnings a library logs (smbprotocol's receive thread, paramiko, botocore...) go to corral's log at DEBUG in
    one line, masked like corral's own: without this, Python printed them raw, tracebacks included, on stderr,
    which cron mails even on a good night."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "corral" or record.name.startswith("corral."):
            return
        try:
            text = record.getMessage()
        except Exception:  # a library's bad format string
            text = str(record.msg)
        first = text.strip().splitlines()[0] if text.strip() else record.levelname
        logging.getLogger("corral").debug("%s: %s", record.name, first)


def close() -> None:
    """Detach and close every handler of the ``corral`` logger (the log file is flushed and closed)."""
    root = logging.getLogger()
    for forwarder in [h for h in root.handlers if isinstance(h, _Libraries)]:
        root.removeHandler(forwarder)
    logger = logging.getLogger("corral")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    for existing in list(logger.filters):
        logger.removeFilter(existing)


def masked(text: str) -> str:
    """``text`` with the secrets of the log's configuration masked (as it is, before :func:`setup`)."""
    for handler in logging.getLogger("corral").handlers:
        for found in handler.filters:
            if isinstance(found, _Context):
                return found.mask(text)
    return text


def console_threshold(verbose: bool = False, quiet: bool = False) -> int:
    """What ``corral start`` prints on stderr: the log from INFO on a terminal; under cron (no terminal) only
    errors, so that a night that went well sends no mail; everything with ``--verbose``; nothing with ``--quiet``."""
    if quiet:
        return logging.CRITICAL + 1
    if verbose:
        return logging.DEBUG
    return logging.INFO if sys.stderr.isatty() else logging.ERROR


def setup(log_file: Path | None, secrets: Iterable[str], console_level: int = logging.INFO) -> Collector:
    """Route the ``corral`` logger to stderr (from ``console_level``), the log file and a collector; returns the
    collector."""
    close()
    logger = logging.getLogger("corral")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    context = _Context(secrets)
    formatter = logging.Formatter(FORMAT, DATE_FORMAT)
    handlers: list[logging.Handler] = []
    console: logging.Handler
    if sys.stderr.isatty():  # colours and aligned columns on a terminal; plain lines under cron
        from rich.console import Console
        from rich.logging import RichHandler

        console = RichHandler(console=Console(stderr=True, markup=False), show_path=False, markup=False,
                              rich_tracebacks=False, log_time_format="[%H:%M:%S]")
    else:
        console = logging.StreamHandler(sys.stderr)
    console.setLevel(console_level)
    handlers.append(console)
    if log_file is not None:
        handlers.append(_OwnFileHandler(log_file))
    collector = Collector()
    handlers.append(collector)
    for handler in handlers:
        # rich prints the time and level itself
        handler.setFormatter(logging.Formatter("%(where)s%(message)s") if handler is console and
                             sys.stderr.isatty() else formatter)
        handler.addFilter(context)
        logger.addHandler(handler)
    logging.getLogger().addHandler(_Libraries(logging.WARNING))
    return collector
