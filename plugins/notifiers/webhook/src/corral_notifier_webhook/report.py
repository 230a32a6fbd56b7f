"""What a webhook carries: the run's verdict, a short text, and the result as JSON-ready data."""

from __future__ import annotations

import json
import string
from datetime import datetime
from typing import Any

from corral import JobResult, RunResult, StorageOutcome


def status(result: RunResult) -> str:
    if result.interrupted:
        return "interrupted"
    return "success" if result.ok else "failure"


def summary(server: str, result: RunResult) -> str:
    """One line: ``corral on web1: backup FAILED: blog-db (1 of 2 job(s))``."""
    return f"corral on {server}: backup {result.verdict()}"




def text(server: str, result: RunResult) -> str:
    """A few lines for a chat message or a ping body: each job, then each error."""
    lines = [summary(server, result)]
    for job in result.jobs:
        lines.append(job.summary())
        lines += [f"  - {error}" for error in job.errors]
    lines += [f"not backed up: {line}" for line in uncovered(result)]
    return "\n".join(lines)


def uncovered(result: RunResult) -> list[str]:
    """What coverage found no job backs up (empty when it found nothing or did not look)."""
    return result.uncovered.lines if result.uncovered is not None else []


def _time(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def storage_data(storage: StorageOutcome) -> dict[str, Any]:
    """One configured storage of a job; ``storage`` is its label (``local``, ``local#2``), as in the log."""
    return {
        "storage": storage.label,
        "kind": storage.name,
        "backup_dir": storage.backup_dir,
        "enabled": storage.enabled,
        "ok": storage.ok,
        "size": storage.size,
        "stored": [{"target": f.target, "path": f.path, "size": f.size, "seconds": round(f.seconds, 3)}
                   for f in storage.stored],
        "deleted": storage.deleted,
        "failures": storage.failures,
    }


def job_data(job: JobResult) -> dict[str, Any]:
    return {
        "job": job.job,
        "type": job.type,
        "ok": job.ok,
        "started": _time(job.started),
        "finished": _time(job.finished),
        "seconds": round(job.seconds, 3),
        "archives": [
            {"target": a.target, "size": a.size, "stored": a.stored, "failed": a.failed} for a in job.archives
        ],
        "storages": [storage_data(storage) for storage in job.storages],
        "deleted": job.deleted,
        "errors": job.errors,
        "warnings": job.warnings,
    }


def variables(server: str, result: RunResult) -> dict[str, Any]:
    """What templates can use, and the default payload."""
    return {
        "server": server,
        "status": status(result),
        "ok": result.ok,
        "summary": summary(server, result),
        "text": text(server, result),
        "started": result.started.isoformat(),
        "seconds": round(result.seconds, 3),
        "failed_jobs": [job.job for job in result.jobs if not job.ok],
        "errors": [f"{job.job}: {error}" for job in result.jobs for error in job.errors],
        "jobs": [job_data(job) for job in result.jobs],
        "uncovered": None if result.uncovered is None else {
            "sites": result.uncovered.sites, "databases": result.uncovered.databases},
    }


def render(template: Any, values: dict[str, Any]) -> Any:
    """Fill a JSON template: ``"$jobs"`` alone becomes the value itself, other strings get text substitution."""
    if isinstance(template, dict):
        return {key: render(item, values) for key, item in template.items()}
    if isinstance(template, list):
        return [render(item, values) for item in template]
    if isinstance(template, str):
        name = template[1:].strip("{}") if template.startswith("$") else None
        if name in values and template in (f"${name}", f"${{{name}}}"):
            return values[name]
        texts = {key: value if isinstance(value, str) else _json_text(value) for key, value in values.items()}
        return string.Template(template).safe_substitute(texts)
    return template


def _json_text(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()
