"""Live progress on a terminal: a spinner naming the job and step, fed by the lifecycle hooks.

Under cron (stderr not a TTY) nothing is shown but the plain log lines.
"""

from __future__ import annotations

import sys
from typing import Any

from corral.hookspecs import hookimpl


class Progress:
    """A lifecycle-hook listener that keeps a rich status line up to date."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, markup=False, highlight=False)
        self.status = self.console.status("starting")
        self.done = 0
        self.total = 0

    @hookimpl
    def corral_run_started(self, run: Any) -> None:
        self.status.start()

    @hookimpl
    def corral_job_started(self, job: Any) -> None:
        self.status.update(f"{job.name}: rotating and dumping ({job.type})")

    @hookimpl
    def corral_archive_stored(self, job: Any, storage: str, remote_path: str, size: int) -> None:
        self.done += 1
        name = remote_path.rsplit("/", 1)[-1]
        self.status.update(f"{job.name}: {self.done} archive(s) stored; last {name} on {storage} ({size:,d} bytes)")

    @hookimpl
    def corral_run_finished(self) -> None:
        self.status.stop()


def on_terminal() -> Progress | None:
    return Progress() if sys.stderr.isatty() else None
