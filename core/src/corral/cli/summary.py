"""The end-of-run summary on stdout: a table on a terminal; under cron, plain lines only when something failed.

Columns (docs/running.md): the job, its result (``ok`` or ``FAILED``), the archives it made, the seconds it took,
and its first error. Under cron the first line is the run's verdict (:meth:`RunResult.verdict`) and the rows are
tab-separated, after a header row.
"""

from __future__ import annotations

import sys

from corral.run import RunResult

COLUMNS = ("job", "result", "archives", "time", "first error")


def show(result: RunResult, verbose: bool = False) -> None:
    """Print the summary; under cron (stdout not a terminal) only for a run that failed, or with ``verbose``."""
    if result.blocked:  # no job ran; cron mails this line
        print(f"NOT RUN: {result.blocked}")
        return
    rows = [
        (job.job, "ok" if job.ok else "FAILED", str(len(job.archives)), f"{job.seconds:.1f}s",
         job.errors[0] if job.errors else "")
        for job in result.jobs
    ]
    if not sys.stdout.isatty():
        if result.ok and result.jobs and not verbose:
            return  # a quiet night: cron sends no mail (a night that ran no job is said)
        print(result.verdict())
        for row in (COLUMNS, *rows) if rows else ():
            print("\t".join(row).rstrip())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*COLUMNS, title=f"corral run: {result.verdict()}")
    for row in rows:
        table.add_row(*row, style=None if row[1] == "ok" else "red")
    Console(markup=False).print(table)
