"""Plain SQL for psql as data only: the stream corral feeds psql (a plain dump, a globals file) starts with
``\\restrict KEY`` for a key nobody else knows, so psql runs none of the meta-commands an archive altered on a
storage could hold (``\\!`` runs a shell as root, ``\\o``/``\\w`` write files, ``\\i`` reads them): each is an
error. pg_dump's own ``\\restrict``/``\\unrestrict`` pair (15.14, 16.10, 17.6 on) would be such an error too, so
exactly those lines go: the first line after the header comments, and the last line before the trailing comments,
where no COPY data can be. Old dumps without them pass as they are. A psql older than ``\\restrict`` (before
13.22, 14.19, 15.14, 16.10, 17.6) would fail at our first line: :func:`restricts` tells, and the stream then goes
without it (the restore says so in a line).
"""

from __future__ import annotations

import functools
import re
import secrets
import subprocess

RESTRICT_SINCE = {13: 22, 14: 19, 15: 14, 16: 10, 17: 6}  # the minor releases that brought \\restrict; 18 had it
HEAD_LIMIT = 64 << 10  # pg_dump's header is a few lines; past this, no header line is dropped
_RESTRICT = re.compile(rb"\\restrict [A-Za-z0-9]+")
_UNRESTRICT = re.compile(rb"\\unrestrict [A-Za-z0-9]+")


def _comments_only(text: bytes) -> bool:
    return all(not line.strip() or line.lstrip().startswith(b"--") for line in text.split(b"\n"))


@functools.cache
def restricts(psql: str) -> bool:
    """Whether this psql knows ``\\restrict`` (from ``psql --version``: ``psql (PostgreSQL) 15.18 (Debian...)``)."""
    try:
        said = subprocess.run([psql, "--version"], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    found = re.search(r"\b(\d+)(?:\.(\d+))?", said.split(")", 1)[-1])
    if found is None:
        return False
    major, minor = int(found[1]), int(found[2] or 0)
    return major >= 18 or minor >= RESTRICT_SINCE.get(major, 1 << 30)


class Guard:
    """Rewrites the SQL fed to it: our ``\\restrict`` first (``restrict=False``: a psql without it), the dump's own
    pair out (see the module)."""

    def __init__(self, restrict: bool = True) -> None:
        self.key = secrets.token_hex(16) if restrict else ""
        self.head = True  # only comments and blank lines so far
        self.held = b""
        self.started = False

    def feed(self, data: bytes, final: bool = False) -> bytes:
        out = b""
        if not self.started:
            out, self.started = f"\\restrict {self.key}\n".encode() if self.key else b"", True
        buf = self.held + data
        if self.head:
            at = 0
            while True:  # the header's lines, up to the first one that is not a comment
                end = buf.find(b"\n", at)
                if end == -1 and not final and len(buf) < HEAD_LIMIT:
                    self.held = buf
                    return out
                line = buf[at:] if end == -1 else buf[at:end]
                if not line.strip() or line.lstrip().startswith(b"--"):
                    if end == -1:
                        break
                    at = end + 1
                    continue
                if _RESTRICT.fullmatch(line.rstrip(b"\r")):
                    buf = buf[:at] + (b"" if end == -1 else buf[end + 1:])
                break
            self.head = False
        tail = _trailer(buf)
        if final:
            self.held = b""
            if tail is not None:
                end = buf.find(b"\n", tail)
                end = len(buf) if end == -1 else end
                if _UNRESTRICT.fullmatch(buf[tail:end].rstrip(b"\r")) and _comments_only(buf[end + 1:]):
                    buf = buf[:tail] + buf[end + 1:]
            return out + buf
        cut = buf.rfind(b"\n") + 1  # the last, maybe unfinished line waits
        if tail is not None and len(buf) - tail <= HEAD_LIMIT:
            end = buf.find(b"\n", tail)
            if end == -1 or _comments_only(buf[end + 1:]):
                cut = tail  # maybe pg_dump's closing \unrestrict: it waits for the end
        self.held = buf[cut:]
        return out + buf[:cut]


def _trailer(buf: bytes) -> int | None:
    """Where the last line that starts with ``\\unrestrict`` starts (``buf`` starts at a line start)."""
    at = buf.rfind(b"\n\\unrestrict ") + 1
    return at if at or buf.startswith(b"\\unrestrict ") else None
