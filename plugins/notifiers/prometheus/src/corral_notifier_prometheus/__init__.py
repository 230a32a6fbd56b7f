"""Metrics for node_exporter's textfile collector, rewritten after every run.

Per job (label ``corral_job``) and per storage (labels ``storage``, ``backup_dir``): success flag, last run and
last success times, duration, archive size. Alert on ``time() - corral_job_last_success_timestamp_seconds``
to notice backups that failed *or stopped running*.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel

from corral import RunContext, hookimpl
from corral.config.models import JobConfig
from corral.run import JobResult, RunResult
from corral_notifier_prometheus import textfile
from corral_notifier_prometheus.metrics import JOB, Sample, merge, parse, render, sample
from corral_notifier_prometheus.outcomes import RunRecorder
from corral_notifier_prometheus.settings import PrometheusSettings

__all__ = ["PrometheusNotifier", "PrometheusSettings"]


class PrometheusError(Exception):
    """The metrics file could not be written."""


class PrometheusNotifier(RunRecorder):
    """Remembers when each job finished and where its archives went; writes the file at the end of the run."""

    def __init__(self) -> None:
        super().__init__()
        self.started = time.monotonic()
        self.finished: dict[str, float] = {}

    @hookimpl
    def corral_main_schema(self) -> type[BaseModel]:
        return PrometheusSettings

    @hookimpl
    def corral_run_started(self) -> None:
        super().corral_run_started()
        self.started = time.monotonic()
        self.finished.clear()

    @hookimpl
    def corral_job_finished(self, job: JobConfig) -> None:
        self.finished[job.name] = time.monotonic()

    @hookimpl
    def corral_run_finished(self, run: RunContext, result: RunResult) -> None:
        path = run.main.prometheus_textfile
        if path is None:
            return
        try:
            with textfile.locked(path):
                old_text = textfile.read(path)
                try:
                    old = parse(old_text)
                except ValueError as exc:
                    run.log.warning("prometheus: `%s` does not parse (%s); starting it afresh", path, exc)
                    old = []
                new = self.samples(run, result, old)
                textfile.replace(path, render(merge(old, new, {job.job for job in result.jobs})))
        except OSError as exc:
            raise PrometheusError(f"cannot write `{path}`: {exc.strerror or exc}") from None
        run.log.info("prometheus: metrics of %d job(s) written to %s", len(result.jobs), path)

    def _when(self, run: RunContext, job: str) -> float:
        """The job's end on the run's clock (``CORRAL_NOW`` shifts it like every date of the run)."""
        return run.now.timestamp() + self.finished.get(job, time.monotonic()) - self.started

    def samples(self, run: RunContext, result: RunResult, old: list[Sample]) -> list[Sample]:
        previous = {s.series(): s.value for s in old if s.name.endswith("_last_success_timestamp_seconds")}
        out: list[Sample] = []
        for job in result.jobs:
            out += self._job_samples(job, self._when(run, job.job), previous)
        return out

    def _job_samples(self, job: JobResult, when: float, previous: dict[Any, float]) -> list[Sample]:
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
        for storage in self.storages(job):
            if not storage.enabled:
                continue
            where = {JOB: job.job, "storage": storage.name, "backup_dir": storage.backup_dir}
            ok = not storage.failures and bool(job.archives) and len(storage.targets) >= len(job.archives)
            out += [
                sample("corral_storage_success", int(ok), **where),
                sample("corral_storage_last_run_timestamp_seconds", when, **where),
                sample("corral_storage_upload_duration_seconds", round(storage.seconds, 3), **where),
                sample("corral_storage_archive_bytes", storage.size, **where),
                sample("corral_storage_rotation_deleted_files", storage.deleted, **where),
            ]
            out += _last_success("corral_storage_last_success_timestamp_seconds", ok, when, previous, where)
        return out


def _last_success(name: str, ok: bool, when: float, previous: dict[Any, float], labels: dict[str, str]) -> list[Sample]:
    """Now when it succeeded; else the time the file already had (matched without the `type` label)."""
    if ok:
        return [sample(name, when, **labels)]
    wanted = {k: v for k, v in labels.items() if k != "type"}
    for (old_name, old_labels), value in previous.items():
        if old_name == name and {k: v for k, v in old_labels if k != "type"} == wanted:
            return [sample(name, value, **labels)]
    return []
