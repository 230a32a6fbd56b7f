"""Throwaway Unix users with a password, for servers that authenticate against the system (FTP, SSH, SMB)."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from .prerequisites import require_executable, require_root
from .processes import ServerStartError

PREFIX = "crlt"
_OURS = re.compile(rf"^{PREFIX}[a-z]{{3}}[0-9a-f]{{6}}$")
_swept = False


def _run(argv: list[str], stdin: str | None = None, attempts: int = 30) -> subprocess.CompletedProcess[str]:
    """Run a shadow-utils command, retrying while another process holds the passwd/group lock."""
    for _ in range(attempts):
        result = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
        if result.returncode == 0 or "lock" not in (result.stderr + result.stdout).lower():
            return result
        time.sleep(0.1)
    return result


def sweep_stale_users() -> None:
    """Delete users left by a killed test session: ours by name, and their home directory is gone."""
    for entry in pwd.getpwall():
        if _OURS.match(entry.pw_name) and not Path(entry.pw_dir).exists():
            _run(["userdel", entry.pw_name], attempts=3)


def _processes_of(uid: int) -> list[int]:
    """Pids of live processes whose real uid is ``uid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("State", "").strip().startswith("Z"):
            continue
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            pids.append(int(entry.name))
    return pids


def _kill_processes_of(uid: int, timeout: float = 5.0) -> None:
    """SIGKILL what still runs as the throwaway user (sshd sessions run in their own sessions)."""
    deadline = time.monotonic() + timeout
    while (pids := _processes_of(uid)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


@contextlib.contextmanager
def unix_user(kind: str, home: Path, password: str, *, shell: str = "/bin/bash") -> Iterator[str]:
    """A new Unix user ``crlt<kind><6 hex>`` with ``home`` (not created) and ``password``; deleted on exit.

    ``kind`` is three lower-case letters (``ftp``, ``ssh``, ``smb``).
    """
    global _swept
    require_root(f"a Unix user for the {kind} server")
    useradd = require_executable("useradd", apt="passwd")
    chpasswd = require_executable("chpasswd", apt="passwd")
    userdel = require_executable("userdel", apt="passwd")
    if not _swept:
        _swept = True
        sweep_stale_users()
    name = f"{PREFIX}{kind}{secrets.token_hex(3)}"
    result = _run([useradd, "-M", "-d", str(home), "-s", shell, "-c", "corral test server user", name])
    if result.returncode != 0:
        raise ServerStartError(f"useradd {name} failed: {result.stderr.strip()}")
    try:
        result = _run([chpasswd], stdin=f"{name}:{password}\n")
        if result.returncode != 0:
            raise ServerStartError(f"chpasswd for {name} failed: {result.stderr.strip()}")
        yield name
    finally:
        with contextlib.suppress(KeyError):
            _kill_processes_of(pwd.getpwnam(name).pw_uid)
        for _ in range(20):
            if _run([userdel, name]).returncode in (0, 6):  # 6: no such user
                break
            time.sleep(0.1)
