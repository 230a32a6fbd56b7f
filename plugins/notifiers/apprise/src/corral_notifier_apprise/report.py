"""The chat message: a title with the verdict, a few lines with each job and its errors."""

from __future__ import annotations

from corral.run import JobResult, RunResult


def title(server: str, result: RunResult) -> str:
    """``corral on web1: backup FAILED: blog-db (1 of 2 job(s))``."""
    failed = [job.job for job in result.jobs if not job.ok]
    if result.interrupted:
        verdict = "INTERRUPTED"
    elif failed:
        verdict = f"FAILED: {', '.join(failed)} ({len(failed)} of {len(result.jobs)} job(s))"
    else:
        verdict = f"OK ({len(result.jobs)} job(s))"
    return f"corral on {server}: backup {verdict}"


def size(value: int) -> str:
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{value} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{value} B"


def job_line(job: JobResult) -> str:
    total = sum(archive.size for archive in job.archives)
    return f"{'ok' if job.ok else 'FAILED'} {job.job} ({job.type}): {len(job.archives)} archive(s), " \
        f"{size(total)}, {job.seconds:.1f} s"


def body(result: RunResult) -> str:
    lines = []
    for job in result.jobs:
        lines.append(job_line(job))
        lines += [f"  - {error}" for error in job.errors]
        lines += [f"  - warning: {warning}" for warning in job.warnings]
    if result.interrupted:
        lines.append("The run was interrupted; the jobs after the interrupted one did not run.")
    return "\n".join(lines) or "no job ran"
