"""What a source's drill gets from the core and gives back: the newest archive of one target, the facts recorded
when it was made, a private scratch folder, the job's checks; a one-line summary and the problems found.

A drill restores the archive into something corral owns and throws away (a folder in ``request.scratch``, a
server started there on a free 127.0.0.1 port from the local binaries, or the job's ``drill: server``), then
compares what came back with ``request.facts`` (counts within ``request.tolerance`` where they were estimates)
and runs ``request.checks``. Everything it starts goes through ``run.popen`` (stopped on SIGTERM); the core
removes the scratch folder whatever happens.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corral.archive import Backup
from corral.config.models import DrillCheck
from corral.run import RunContext

COMMAND_TIMEOUT = 600.0


@dataclass(frozen=True)
class DrillRequest:
    """One target's drill: ``archive`` (its newest backup on ``storage``), ``facts`` (what the source recorded
    when it was made, ``{}`` without a manifest), ``scratch`` (a private empty folder, removed after),
    ``server`` (the job's ``drill: server``, or None for a throwaway one), ``checks`` (the job's checks for this
    target), ``tolerance`` for estimated counts, ``say`` (one line, shown with ``--verbose``)."""

    archive: Backup
    facts: dict[str, Any]
    scratch: Path
    server: str | None = None
    checks: list[DrillCheck] = field(default_factory=list)
    tolerance: float = 0.1
    say: Callable[[str], None] = print


@dataclass
class DrillReport:
    """What came back (``restored``: one line such as "1,234 files, 56.0 MiB" or "12 tables, 3.4M rows") and
    what did not match (``problems``: one line each; none means the drill passed)."""

    restored: str
    problems: list[str] = field(default_factory=list)
    checks: int = 0  # checks that passed
    compared: bool = True  # whether the facts recorded at dump time were compared (False: nothing comparable)


def compare_counts(what: str, recorded: Mapping[str, Any], found: Mapping[str, Any], tolerance: float = 0.0
                   ) -> list[str]:  # fmt: skip
    """One problem per name recorded at dump time whose count came back missing or off by more than ``tolerance``
    (a fraction: 0.1 lets an estimate of 1,000 rows come back as 900-1,100; small counts get at least 1 of
    slack when ``tolerance`` is not 0); names that came back and were not recorded are problems too."""
    problems = []
    for name, expected in sorted(recorded.items()):
        if name not in found:
            problems.append(f"{what} `{name}` is missing (recorded: {expected})")
            continue
        if expected is None:  # not counted at dump time
            continue
        got = found[name]
        slack = max(1.0, abs(expected) * tolerance) if tolerance else 0.0
        if abs(got - expected) > slack:
            problems.append(f"{what} `{name}`: {got} came back, {expected} recorded")
    problems += [f"{what} `{name}` came back but was not recorded" for name in sorted(set(found) - set(recorded))]
    return problems


def command_check(run: RunContext, check: DrillCheck, cwd: Path, env: Mapping[str, str] | None = None) -> str | None:
    """Run a ``command`` check in ``cwd`` (``/bin/sh -c``); None when it exits 0, else its one-line failure."""
    assert check.command is not None
    process = run.popen(["/bin/sh", "-c", check.command], cwd=cwd, stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    try:
        out, _ = process.communicate(timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return f"check `{check.command}` did not end within {COMMAND_TIMEOUT:g} s"
    finally:
        run.forget(process)
    if process.returncode == 0:
        return None
    said = [line for line in out.decode(errors="replace").splitlines() if line.strip()]
    return f"check `{check.command}` failed (exit {process.returncode}){f': {said[-1][:200]}' if said else ''}"
