"""Metrics for node_exporter's textfile collector, rewritten after every run.

Per job (label ``corral_job``) and per storage (labels ``storage``, the storage's label as in the log such as
``local#2``, and ``backup_dir``): success flag, last run and last success times, duration, archive size. Alert
on ``time() - corral_job_last_success_timestamp_seconds`` to notice backups that failed *or stopped running*.
Times are the wall-clock ends of the jobs (``JobResult.finished``), never a simulated ``CORRAL_NOW``: Prometheus
compares them with its own clock. ``corral_uncovered_sites`` and ``corral_uncovered_databases`` (no labels) count
what coverage found no job backs up; a run that did not look (``main: coverage: no``) leaves them as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from corral import CorralError, JobResult, RunContext, RunResult, StorageOutcome, hookimpl
from corral.drill import DrillResult
from corral.verify import VerifyResult
from corral_notifier_prometheus import textfile
from corral_notifier_prometheus.metrics import JOB, Sample, merge, parse, render, replace_series, sample
from corral_notifier_prometheus.settings import PrometheusSettings

__all__ = ["PrometheusNotifier", "PrometheusSettings"]


class PrometheusError(CorralError):
    """The metrics file could not be written."""


class PrometheusNotifier:
    """Writes the file at the end of the run, from the core's :class:`RunResult` alone."""

    @hookimpl
    def corral_main_schema(self) -> type[BaseModel]:
        return PrometheusSettings

    @hookimpl
    def corral_run_finished(self, run: RunContext, result: RunResult) -> None:
        path = run.main.prometheus_textfile
        if path is None:
            return
        jobs_run = {job.job for job in result.jobs}
        _rewrite(run, path, lambda old: replace_series(merge(old, samples(result, old), jobs_run), uncovered(result)))
        run.log.info("prometheus: metrics of %d job(s) written to %s", len(result.jobs), path)

    @hookimpl
    def corral_verify_finished(self, run: RunContext, result: VerifyResult) -> None:
        """Per job and storage verified: success, last run, last success (kept from before when it failed)."""
        path = run.main.prometheus_textfile
        if path is None:
            return
        when = (result.finished or datetime.now()).timestamp()
        new = []
        for storage in result.storages:
            where = {JOB: storage.job, "storage": storage.storage, "backup_dir": storage.backup_dir}
            new += [
                sample("corral_verify_success", int(storage.ok), **where),
                sample("corral_verify_last_run_timestamp_seconds", when, **where),
                sample("corral_verify_archives", len(storage.archives), **where),
            ]
            if storage.ok:
                new.append(sample("corral_verify_last_success_timestamp_seconds", when, **where))
        _rewrite(run, path, lambda old: replace_series(old, new))
        run.log.info("prometheus: verify metrics of %d storage(s) written to %s", len(result.storages), path)


    @hookimpl
    def corral_drill_finished(self, run: RunContext, result: DrillResult) -> None:
        """Per job and target drilled: success, seconds, last run, last success (kept from before on failure)."""
        path = run.main.prometheus_textfile
        if path is None:
            return
        new = []
        for drilled in result.drilled:
            when = (drilled.finished or datetime.now()).timestamp()
            where = {JOB: drilled.job, "target": drilled.target, "storage": drilled.storage}
            new += [
                sample("corral_drill_success", int(drilled.ok), **where),
                sample("corral_drill_seconds", round(drilled.seconds, 3), **where),
                sample("corral_drill_last_run_timestamp_seconds", when, **where),
            ]
            if drilled.ok:
                new.append(sample("corral_drill_last_success_timestamp_seconds", when, **where))
        _rewrite(run, path, lambda old: replace_series(old, new))
        run.log.info("prometheus: drill metrics of %d target(s) written to %s", len(result.targets), path)


def _rewrite(run: RunContext, path: Path, update: Callable[[list[Sample]], list[Sample]]) -> None:
    """Read the file's series, update them, replace the file atomically, one writer at a time."""
    try:
        with textfile.locked(path):
            old_text = textfile.read(path)
            try:
                old = parse(old_text)
            except ValueError as exc:
                run.log.warning("prometheus: `%s` does not parse (%s); starting it afresh", path, exc)
                old = []
            textfile.replace(path, render(update(old)))
    except OSError as exc:
        raise PrometheusError(f"cannot write `{path}`: {exc.strerror or exc}") from None


def samples(result: RunResult, old: list[Sample]) -> list[Sample]:
    """The run's series; a failed job or storage keeps the ``last_success`` time ``old`` had."""
    previous = {s.series(): s.value for s in old if s.name.endswith("_last_success_timestamp_seconds")}
    out: list[Sample] = []
    for job in result.jobs:
        out += _job_samples(job, previous)
    return out


def uncovered(result: RunResult) -> list[Sample]:
    """The coverage gauges, when the run looked (``result.uncovered``)."""
    if result.uncovered is None:
        return []
    return [sample("corral_uncovered_sites", len(result.uncovered.sites)),
            sample("corral_uncovered_databases", len(result.uncovered.databases))]


def _job_samples(job: JobResult, previous: dict[Any, float]) -> list[Sample]:
    """The job's series, then one set per enabled storage, labelled as in the log (``local``, ``local#2``)."""
    when = (job.finished or datetime.now()).timestamp()
    labels = {JOB: job.job, "type": job.type}
    out = [
        sample("corral_job_success", int(job.ok), **labels),
        sample("corral_job_last_run_timestamp_seconds", when, **labels),
        sample("corral_job_duration_seconds", round(job.seconds, 3), **labels),
        sample("corral_job_archive_bytes", sum(a.size for a in job.archives), **labels),
        sample("corral_job_archives", len(job.archives), **labels),
        sample("corral_job_errors", len(job.errors), **labels),
    ]
    out += _last_success("corral_job_last_success_timestamp_seconds", job.ok, when, previous, labels)
    for storage in job.storages:
        if not storage.enabled:
            continue
        where = {JOB: job.job, "storage": storage.label, "backup_dir": storage.backup_dir}
        ok = _storage_ok(storage, job)
        out += [
            sample("corral_storage_success", int(ok), **where),
            sample("corral_storage_last_run_timestamp_seconds", when, **where),
            sample("corral_storage_upload_duration_seconds", round(sum(f.seconds for f in storage.stored), 3),
                   **where),
            sample("corral_storage_archive_bytes", storage.size, **where),
            sample("corral_storage_rotation_deleted_files", len(storage.deleted), **where),
        ]
        out += _last_success("corral_storage_last_success_timestamp_seconds", ok, when, previous, where)
    return out


def _storage_ok(storage: StorageOutcome, job: JobResult) -> bool:
    """Nothing about the storage failed and it holds every archive of the run (a run without any did not back up)."""
    return storage.ok and len(storage.stored) == len(job.archives) > 0


def _last_success(name: str, ok: bool, when: float, previous: dict[Any, float], labels: dict[str, str]) -> list[Sample]:
    """Now when it succeeded; else the time the file already had (matched without the `type` label)."""
    if ok:
        return [sample(name, when, **labels)]
    wanted = {k: v for k, v in labels.items() if k != "type"}
    for (old_name, old_labels), value in previous.items():
        if old_name == name and {k: v for k, v in old_labels if k != "type"} == wanted:
            return [sample(name, value, **labels)]
    return []
