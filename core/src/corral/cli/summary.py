"""The end-of-run summary: a table on a terminal, plain lines under cron."""

from __future__ import annotations

import sys

from corral.run import RunResult


def show(result: RunResult) -> None:
    rows = [
        (job.job, "ok" if job.ok else "FAILED", str(len(job.archives)), f"{job.seconds:.1f}s",
         job.errors[0] if job.errors else "")
        for job in result.jobs
    ]
    if result.blocked:  # no job ran; cron mails this line
        print(f"NOT RUN: {result.blocked}")
        return
    if not sys.stdout.isatty():
        for row in rows:
            print("\t".join(row).rstrip())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("job", "result", "archives", "time", "first error", title="corral run")
    for row in rows:
        table.add_row(*row, style=None if row[1] == "ok" else "red")
    Console(markup=False).print(table)
