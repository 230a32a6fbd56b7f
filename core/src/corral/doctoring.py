"""What a source's ``corral doctor`` checks give back, and helpers for the checks every source repeats.

A check is one line for the admin: ``ok``, ``warn`` (works, but look at it) or ``FAIL`` (the next run would fail),
and the fact found (``mariadb-dump 10.11.19 (server 10.11.19)``). The core puts the job in front of it
(``ok   mysql job shop: ...``), masks the config's secrets in it, and exits 1 when any check failed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

OK, WARN, FAIL = "ok", "warn", "FAIL"
VERSION_TIMEOUT = 10.0  # seconds for `PROGRAM --version`
_DISTRIB = re.compile(r"Distrib (\d+(?:\.\d+)+)")  # mysql tools: "Ver 10.19 Distrib 10.11.19-MariaDB"
_VERSION = re.compile(r"(?<![\w.])v?(\d+(?:\.\d+)+)")


@dataclass(frozen=True)
class Check:
    """One line of ``corral doctor``: ``status`` (:data:`OK`, :data:`WARN` or :data:`FAIL`), what was found
    (``text``) and what it is about (``subject``: the core fills it in for a source's checks)."""

    status: str
    text: str
    subject: str = ""

    @classmethod
    def ok(cls, text: str) -> Check:
        return cls(OK, text)

    @classmethod
    def warn(cls, text: str) -> Check:
        return cls(WARN, text)

    @classmethod
    def fail(cls, text: str) -> Check:
        return cls(FAIL, text)

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def line(self) -> str:
        """``ok   mysql job shop: mariadb-dump 10.11.19 (server 10.11.19)``."""
        return f"{self.status:<4} {self.subject}: {self.text}" if self.subject else f"{self.status:<4} {self.text}"


def version_in(text: str) -> str | None:
    """The version a ``--version`` line names: ``10.11.19`` of mariadb-dump's ``Ver 10.19 Distrib 10.11.19-...``,
    ``1.5.4`` of zstd's ``v1.5.4``, ``15.18`` of ``pg_dump (PostgreSQL) 15.18``; None when it names none."""
    match = _DISTRIB.search(text) or _VERSION.search(text)
    return match[1] if match else None


def numbers(version: str | None) -> tuple[int, ...]:
    """``10.11.19`` as ``(10, 11, 19)``, to compare versions; ``()`` for None."""
    return tuple(int(part) for part in version.split(".")) if version else ()


def version_of(program: str, args: tuple[str, ...] = ("--version",)) -> str | None:
    """The version ``program --version`` prints (on stdout or stderr: mariabackup), or None."""
    try:
        done = subprocess.run([program, *args], capture_output=True, timeout=VERSION_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return version_in((done.stdout or done.stderr).decode("utf-8", "replace"))


@dataclass(frozen=True)
class Program:
    """A program a source needs, as found on PATH: its ``path`` (None: not installed) and ``version``."""

    name: str
    path: str | None
    version: str | None
    check: Check


def program(names: str | tuple[str, ...], apt: str, *, versioned: bool = True, why: str = "") -> Program:
    """The first of ``names`` on PATH and its version, with the check that says so: ``ok mariadb-dump 10.11.19``,
    or ``FAIL`` naming the package that installs it (``apt``). ``versioned=False``: a program without
    ``--version`` (mbstream). ``why``: what it is for, said after its name (``(restores)``)."""
    names = (names,) if isinstance(names, str) else names
    note = f" {why}" if why else ""
    for name in names:
        path = shutil.which(name)
        if path:
            version = version_of(path) if versioned else None
            found = f"{name} {version}" if version else name if not versioned else f"{name} (version unknown)"
            return Program(name, path, version, Check.ok(f"{found}{note}"))
    wanted = "` nor `".join(names)
    said = f"`{wanted}` is not installed" if len(names) == 1 else f"neither `{wanted}` is installed"
    return Program(names[0], None, None, Check.fail(f"{said}{note} (apt install {apt})"))


def codec(name: str) -> Check:
    """The compressor of ``compression``/``gzip`` (the core's codecs): ``ok compression zstd: zstd 1.5.4``; gzip
    uses pigz when it is installed, else gzip (a warning: one core)."""
    from corral.piped import Codec

    chosen = Codec.named(name)
    if chosen.program is None:
        return Check.ok("compression none")
    found = program(chosen.program, chosen.program)
    if found.path is None:
        return Check.fail(f"compression {name}: {found.check.text}")
    if chosen.name == "gzip" and found.name == "gzip":
        return Check.warn(f"compression gzip: {found.check.text} (pigz is not installed: gzip uses one core; "
                          "apt install pigz)")
    return Check.ok(f"compression {name}: {found.check.text}")


def older(tool: str | None, server: str | None, parts: int = 1) -> bool:
    """Whether the ``tool``'s version is older than the ``server``'s in its first ``parts`` numbers (1: the
    major version, as pg_dump's rule); False when either is unknown."""
    if not tool or not server:
        return False
    return numbers(tool)[:parts] < numbers(server)[:parts]
