"""Short SQL statements through the ``mariadb``/``mysql`` command-line client and the same option file."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from corral import RunContext
from corral_source_mysql.stream import error_line

_BATCH_ESCAPE = re.compile(r"\\(.)")
_BATCH_CHARS = {"0": "\0", "t": "\t", "n": "\n", "\\": "\\"}


class SQLError(Exception):
    """The client failed; the message is the client's own one-line error (``ERROR 1045 ... denied ...``)."""


def query(
    run: RunContext, client: str, options: Path | tuple[str, ...], statement: str, *, names: bool = False,
    timeout: float = 120, pass_fds: tuple[int, ...] = (), own: bool = True,
) -> list[str]:
    """Run one statement; returns the output lines (batch mode; column names only with ``names``).

    ``pass_fds``: an open option file the client reads as ``/proc/self/fd/N``; ``own=False``: a client the run
    must not stop when it is interrupted (the replica's resume, see :mod:`replica`). ``options`` may also be the
    login arguments themselves (a restore into a server the job does not know: the client's own option files)."""
    login = [f"--defaults-file={options}"] if isinstance(options, Path) else list(options)
    argv = [client, *login, "--batch", *([] if names else ["--skip-column-names"]),
            "--default-character-set=utf8mb4", "--connect-timeout=30", "-e", statement]
    start = run.popen if own else subprocess.Popen
    process = start(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=pass_fds)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise SQLError(f"no answer to `{statement}` within {timeout:.0f} s") from None
    finally:
        run.forget(process)
    if process.returncode != 0:
        lines = stderr.decode("utf-8", "replace").splitlines()
        raise SQLError(error_line(lines, f"{Path(client).name} exited with code {process.returncode}"))
    return stdout.decode("utf-8", "surrogateescape").splitlines()


def unescape(value: str) -> str:
    """Undo batch mode's escaping of tabs, newlines, NULs and backslashes in a value."""
    return _BATCH_ESCAPE.sub(lambda m: _BATCH_CHARS.get(m.group(1), m.group(0)), value)


def databases(run: RunContext, client: str, options: Path) -> list[str]:
    """Every database the user can see, in the server's order."""
    return [unescape(line) for line in query(run, client, options, "SHOW DATABASES")]
