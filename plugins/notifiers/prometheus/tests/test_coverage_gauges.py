"""``corral_uncovered_sites`` and ``corral_uncovered_databases``: written when the run looked, kept when not."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

from prometheus_client.parser import text_string_to_metric_families

from corral import JobResult, RunContext, RunResult, Uncovered
from corral_notifier_prometheus import PrometheusNotifier


def gauges(path: Path) -> dict[str, float]:
    return {s.name: s.value for f in text_string_to_metric_families(path.read_text()) for s in f.samples
            if s.name.startswith("corral_uncovered_")}


def test_counts_written_and_kept_by_a_run_that_did_not_look(tmp_path: Path) -> None:
    textfile = tmp_path / "corral.prom"
    run = RunContext(now=datetime(2026, 1, 31, 3), main=SimpleNamespace(prometheus_textfile=textfile),
                     config_path=tmp_path / "corral.conf")
    job = JobResult(job="www", type="desc_files", finished=datetime(2026, 1, 31, 3, 1))
    found = Uncovered(sites=["site a", "site b"], databases=["database c"])
    PrometheusNotifier().corral_run_finished(run=run, result=RunResult(started=run.now, jobs=[job], uncovered=found))
    assert gauges(textfile) == {"corral_uncovered_sites": 2, "corral_uncovered_databases": 1}
    assert "\ncorral_uncovered_sites 2\n" in textfile.read_text()  # no labels, no braces
    PrometheusNotifier().corral_run_finished(run=run, result=RunResult(started=run.now, jobs=[job]))
    assert gauges(textfile) == {"corral_uncovered_sites": 2, "corral_uncovered_databases": 1}
    PrometheusNotifier().corral_run_finished(run=run, result=RunResult(started=run.now, jobs=[job],
                                                                       uncovered=Uncovered()))
    assert gauges(textfile) == {"corral_uncovered_sites": 0, "corral_uncovered_databases": 0}
