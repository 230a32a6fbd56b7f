"""The metric families, and merging a run's samples into the series already in the file.

A run replaces every series of the jobs it ran and keeps the others, so that ``corral start one-job`` does not
erase the rest; a failed job keeps its previous ``last_success`` time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

JOB = "corral_job"  # not `job`: Prometheus reserves that label for the scrape job (it would become exported_job)

FAMILIES: dict[str, str] = {
    "corral_job_success": "1 when the job's last run had no error, else 0",
    "corral_job_last_run_timestamp_seconds": "when the job last finished, successfully or not",
    "corral_job_last_success_timestamp_seconds": "when the job last finished without any error",
    "corral_job_duration_seconds": "how long the job's last run took",
    "corral_job_archive_bytes": "total size of the archives the job's last run made",
    "corral_job_archives": "number of archives the job's last run made",
    "corral_job_errors": "number of errors in the job's last run",
    "corral_storage_success": "1 when every archive of the job's last run arrived on this storage and nothing "
    "about it failed, else 0",
    "corral_storage_last_run_timestamp_seconds": "when the job last ran on this storage",
    "corral_storage_last_success_timestamp_seconds": "when this storage last received all archives of a run",
    "corral_storage_upload_duration_seconds": "time spent uploading the job's last archives to this storage",
    "corral_storage_archive_bytes": "bytes of the job's last run stored on this storage",
    "corral_storage_rotation_deleted_files": "old copies the job's last rotation deleted on this storage",
    "corral_verify_success": "1 when the last `corral verify` of this storage proved every archive it read, else 0",
    "corral_verify_last_run_timestamp_seconds": "when `corral verify` last read this storage",
    "corral_verify_last_success_timestamp_seconds": "when `corral verify` last proved every archive it read here",
    "corral_verify_archives": "archives the last `corral verify` of this storage read",
    "corral_drill_success": "1 when the last `corral drill` restored this target as recorded, else 0",
    "corral_drill_seconds": "how long the last `corral drill` of this target took (restore and checks)",
    "corral_drill_last_run_timestamp_seconds": "when `corral drill` last restored this target",
    "corral_drill_last_success_timestamp_seconds": "when `corral drill` last proved this target restores as recorded",
    "corral_uncovered_sites": "sites the web servers serve whose files no job backs up, at the last `corral start` "
    "that looked (coverage)",
    "corral_uncovered_databases": "databases on this server's database servers, or used by its sites, that no job "
    "dumps, at the last `corral start` that looked (coverage)",
}
VERIFY = "corral_verify_"  # `corral verify` writes these families; `corral start` leaves them alone
DRILL = "corral_drill_"  # likewise `corral drill`


@dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float

    @property
    def job(self) -> str | None:
        return dict(self.labels).get(JOB)

    def series(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.name, self.labels


def sample(name: str, value: float, **labels: str) -> Sample:
    assert name in FAMILIES, name
    return Sample(name, tuple(sorted(labels.items())), float(value))


def parse(text: str) -> list[Sample]:
    """The known families' samples of an existing file (others are dropped: they are from another version)."""
    from prometheus_client.parser import text_string_to_metric_families

    samples = []
    for family in text_string_to_metric_families(text):
        for item in family.samples:
            if item.name in FAMILIES:
                samples.append(Sample(item.name, tuple(sorted(item.labels.items())), float(item.value)))
    return samples


def merge(old: Iterable[Sample], new: Iterable[Sample], jobs_run: set[str]) -> list[Sample]:
    """Old series of jobs this run did not touch (and every job's verify series), plus this run's series."""
    kept = [s for s in old if s.job not in jobs_run or s.name.startswith((VERIFY, DRILL))]
    return kept + list(new)


def replace_series(old: Iterable[Sample], new: Iterable[Sample]) -> list[Sample]:
    """``old`` with each series ``new`` has replaced by its new value (a series ``new`` lacks stays)."""
    merged = {s.series(): s for s in old}
    merged.update((s.series(), s) for s in new)
    return list(merged.values())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def render(samples: Iterable[Sample]) -> str:
    """The text exposition format, families in a fixed order, series sorted."""
    by_family: dict[str, dict[tuple[tuple[str, str], ...], float]] = {name: {} for name in FAMILIES}
    for item in samples:
        by_family[item.name][item.labels] = item.value
    lines = []
    for name, help_text in FAMILIES.items():
        series = by_family[name]
        if not series:
            continue
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        for labels in sorted(series):
            rendered = ",".join(f'{key}="{_escape(value)}"' for key, value in labels)
            lines.append(f"{name}{{{rendered}}} {_number(series[labels])}" if labels
                         else f"{name} {_number(series[labels])}")
    return "\n".join(lines) + "\n" if lines else ""
