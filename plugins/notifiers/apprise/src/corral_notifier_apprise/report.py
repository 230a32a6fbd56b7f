"""The chat message: a title with the verdict, a few lines with each job and its errors."""

from __future__ import annotations

from corral import RunResult


def title(server: str, result: RunResult) -> str:
    """``corral on web1: backup FAILED: blog-db (1 of 2 job(s))``."""
    return f"corral on {server}: backup {result.verdict()}"




def body(result: RunResult) -> str:
    lines = []
    for job in result.jobs:
        lines.append(job.summary())
        lines += [f"  - {error}" for error in job.errors]
        lines += [f"  - warning: {warning}" for warning in job.warnings]
    if result.interrupted:
        lines.append("The run was interrupted; the jobs after the interrupted one did not run.")
    return "\n".join(lines) or "no job ran"
