"""What the dumps' ``producer | compressor`` (:func:`corral.compressed`) needs from MySQL: the codec, checked
installed, and the line of a tool's error output that says what went wrong."""

from __future__ import annotations

import contextlib
import fcntl
import re
import shutil
from pathlib import Path
from typing import Any

from corral import Codec, DumpError, Exit

F_SETPIPE_SZ = 1031  # Linux: a 1 MiB pipe halves the context switches between dump tool and compressor
PIPE_SIZE = 1 << 20
_ERRORISH = re.compile(r"error|denied|fail|cannot|can't|couldn't|unknown|not found|refused|got", re.IGNORECASE)
# mariabackup's "[00] 2026-01-31 03:00:00 " and the server library's "2026-01-31  3:00:00 0 " line prefixes
_LOG_PREFIX = re.compile(r"^(\[\d+\]\s+)?\d{4}-\d\d-\d\d\s+\d?\d:\d\d:\d\d(\s+\d+)?\s+")


def codec(name: str) -> Codec:
    """The compressor for ``none``, ``gzip`` (pigz when installed: parallel) or ``zstd`` (multi-threaded)."""
    chosen = Codec.named(name)
    if chosen.program and shutil.which(chosen.program) is None:
        raise DumpError(f"`{name}` compression needs the `{name}` program (apt install {name})")
    return chosen


def error_line(lines: tuple[str, ...] | list[str], fallback: str) -> str:
    """The line of a program's error output that says what went wrong (the last error-like line)."""
    meaningful = [_LOG_PREFIX.sub("", line.strip()) for line in lines if line.strip()]
    for line in reversed(meaningful):
        if _ERRORISH.search(line):
            return line
    return meaningful[-1] if meaningful else fallback


def cause(end: Exit) -> str:
    """``mariadb-dump exited with code 2: ...``: a failed program of the pipe in one line."""
    return f"{Path(end.program).name} exited with code {end.code}: {error_line(end.stderr, 'no error output')}"


def widen(pipe: Any) -> None:
    with contextlib.suppress(OSError):  # not Linux, or over /proc/sys/fs/pipe-max-size: the default pipe works
        fcntl.fcntl(pipe.fileno(), F_SETPIPE_SZ, PIPE_SIZE)
