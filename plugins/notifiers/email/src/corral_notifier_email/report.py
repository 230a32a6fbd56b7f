"""The text of a run report: a subject naming the server and the outcome, a body listing every job and storage.

Everything comes from the core's :class:`~corral.run.RunResult`; each storage is named by its label (``local``,
``local#2``), as in the log, with its ``backup_dir`` so that two storages of one kind are told apart.
"""

from __future__ import annotations

from corral import JobResult, RunResult, StorageOutcome, human_size
from corral.drill import DrillResult
from corral.run import LogEntry

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


def subject(server: str, result: RunResult) -> str:
    gaps = len(result.uncovered.lines) if result.uncovered is not None else 0
    return f"[corral] {server}: backup {result.verdict()}" + (f"; {gaps} not backed up" if gaps else "")


def coverage_section(result: RunResult) -> list[str]:
    """What coverage found no job backs up, one line each (nothing when it found nothing or did not look)."""
    found = result.uncovered
    if found is None or not found.lines:
        return []
    return ["", f"Not backed up by any job ({len(found.sites)} site(s), {len(found.databases)} database(s)):",
            *(f"  - {line}" for line in found.lines)]


def log_lines(entries: list[LogEntry], min_level: str) -> list[str]:
    floor = LEVELS[min_level]
    return [
        f"{e.time:%Y-%m-%d %H:%M:%S} [{e.level}] {f'[{e.job}] ' if e.job else ''}{e.message}"
        for e in entries
        if LEVELS.get(e.level, 50) >= floor
    ]


def storage_status(storage: StorageOutcome) -> str:
    if not storage.enabled:
        return "disabled"
    seconds = sum(item.seconds for item in storage.stored)
    done = f"{len(storage.stored)} archive(s), {human_size(storage.size)} in {seconds:.1f} s"
    if storage.failures:
        prefix = f"storage {storage.label}: "
        failed = "FAILED: " + "; ".join(failure.removeprefix(prefix) for failure in storage.failures)
        return f"{failed} ({done} stored)" if storage.stored else failed
    return f"ok: {done}" if storage.stored else "nothing stored"


def job_section(result: JobResult) -> list[str]:
    status = "ok" if result.ok else "FAILED"
    started = f"started {result.started:%H:%M:%S}, " if result.started else ""
    lines = [f"[{status}] job {result.job} ({result.type}), {started}{result.seconds:.1f} s"]
    if result.archives:
        lines.append("  archives:")
        lines += [f"    {a.target}: {human_size(a.size)}" for a in result.archives]
    if result.storages:
        lines.append("  storages:")
        for storage in result.storages:
            rotation = f"; rotation deleted {len(storage.deleted)} old file(s)" if storage.deleted else ""
            lines.append(f"    {storage.label} ({storage.backup_dir}): {storage_status(storage)}{rotation}")
    shown = {failure for storage in result.storages for failure in storage.failures}  # beside their storage
    other_errors = [error for error in result.errors if error not in shown]
    if other_errors:
        lines.append("  errors:")
        lines += [f"    - {error}" for error in other_errors]
    if result.warnings:
        lines.append("  warnings:")
        lines += [f"    - {warning}" for warning in result.warnings]
    return lines


def body(server: str, result: RunResult, log_level: str) -> str:
    """The whole message: verdict, one section per job, then the run's log from ``log_level`` up."""
    total = sum(a.size for job in result.jobs for a in job.archives)
    count = sum(len(job.archives) for job in result.jobs)
    lines = [
        f"corral on {server}: backup {result.verdict()}",
        "",
        f"Run started {result.started:%Y-%m-%d %H:%M:%S}, took {result.seconds:.1f} s; "
        f"{count} archive(s), {human_size(total)}.",
    ]
    if result.interrupted:
        lines.append("The run was interrupted (SIGTERM/SIGINT): the jobs after the interrupted one did not run.")
    for job in result.jobs:
        lines += ["", *job_section(job)]
    lines += coverage_section(result)
    title = {"DEBUG": "Full log", "INFO": "Log", "WARNING": "Errors and warnings from the log"}[log_level]
    entries = log_lines(result.log, log_level)
    lines += ["", f"{title}:", *(entries or ["(none)"])]
    return "\n".join(lines) + "\n"


def drill_body(server: str, result: DrillResult) -> str:
    """Each target drilled, failed ones first, with what did not come back as recorded."""
    lines = [f"corral drill on {server}: {sum(t.ok for t in result.drilled)} of {len(result.drilled)} target(s) "
             "restored as recorded.", ""]
    for drilled in sorted(result.drilled, key=lambda t: t.ok):
        state = "passed" if drilled.ok else "FAILED"
        lines.append(f"{drilled.job}/{drilled.target} ({drilled.storage}, {drilled.archive.rsplit('/', 1)[-1]}): "
                     f"{state} in {drilled.seconds:.1f} s; {drilled.restored or 'nothing restored'}")
        lines += [f"    {problem}" for problem in drilled.problems]
    lines += [f"error: {error}" for error in result.errors]
    return "\n".join(lines) + "\n"
