"""Start a server process in its own session, wait until it is ready, stop it (signal, grace, SIGKILL)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path


class ServerStartError(RuntimeError):
    """A server (or one of its setup commands) failed to start; the message ends with its log tail."""


def log_tail(*logs: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of each log that exists, for error messages."""
    parts = []
    for log in logs:
        try:
            text = log.read_text(errors="replace")
        except OSError:
            continue
        tail = "\n".join(text.splitlines()[-lines:])
        parts.append(f"--- tail of {log} ---\n{tail}")
    return "\n".join(parts) if parts else "(no log written)"


def _env(extra: Mapping[str, str] | None) -> dict[str, str] | None:
    return None if extra is None else {**os.environ, **extra}


def spawn(
    argv: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session (so it can't signal our process group), output appended to ``log``.

    ``env`` is added to the current environment; ``user`` runs it as that Unix user (and its group).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_env(env),
            cwd=cwd,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )


def has_exited(proc: subprocess.Popen[bytes]) -> bool:
    """True when the process has exited, without reaping it (its pid keeps naming its process group)."""
    if proc.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def wait_ready(
    proc: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    logs: Sequence[Path],
) -> None:
    """Poll ``ready()`` until it returns True; raise ServerStartError if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if has_exited(proc):
            proc.wait()
            raise ServerStartError(
                f"{what} exited during startup with code {proc.returncode}\n{log_tail(*logs)}"
            )
        try:
            if ready():
                return
        except Exception:  # a readiness probe may fail in many ways while the server starts
            pass
        if time.monotonic() > deadline:
            raise ServerStartError(f"{what} was not ready after {timeout:.0f} s\n{log_tail(*logs)}")
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
    """Send ``sig`` to the server, wait up to ``grace`` seconds, then SIGKILL its whole process group."""
    if not has_exited(proc):
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        deadline = time.monotonic() + grace
        while not has_exited(proc) and time.monotonic() < deadline:
            time.sleep(0.05)
    # The leader is a zombie or still running, so its pid still names the group: kill what is left in it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@contextlib.contextmanager
def running(
    argv: Sequence[str],
    *,
    what: str,
    log: Path,
    ready: Callable[[], bool],
    timeout: float,
    extra_logs: Sequence[Path] = (),
    stop_signal: int = signal.SIGTERM,
    grace: float = 10.0,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server for the duration of the ``with`` block."""
    proc = spawn(argv, log, env=env, cwd=cwd, user=user)
    try:
        wait_ready(proc, ready, what=what, timeout=timeout, logs=(log, *extra_logs))
        yield proc
    finally:
        stop(proc, sig=stop_signal, grace=grace)


def run_checked(
    argv: Sequence[str],
    *,
    what: str,
    log: Path,
    input: bytes | None = None,
    timeout: float = 120.0,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> None:
    """Run a setup command (initdb, ssh-keygen, ...) to completion; raise ServerStartError if it fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        try:
            result = subprocess.run(
                list(argv),
                input=input,
                stdin=subprocess.DEVNULL if input is None else None,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                start_new_session=True,
                env=_env(env),
                cwd=cwd,
                user=user,
                group=user,
                extra_groups=[] if user else None,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ServerStartError(f"{what} did not finish in {timeout:.0f} s\n{log_tail(log)}") from None
    if result.returncode != 0:
        raise ServerStartError(f"{what} failed with exit code {result.returncode}\n{log_tail(log)}")
