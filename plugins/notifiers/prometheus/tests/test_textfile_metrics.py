"""Real ``corral start`` runs write node_exporter textfile metrics; prometheus_client's parser reads them back."""

from __future__ import annotations

import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from corral.testing.notify import Workspace

DAY1, DAY2 = "2026-01-31T03:00:00", "2026-02-01T03:00:00"

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def read(path: Path) -> Series:
    """Every sample of the file, through the official parser (which raises on malformed input)."""
    families = list(text_string_to_metric_families(path.read_text()))
    for family in families:
        assert family.type == "gauge" and family.documentation
    return {(s.name, frozenset(s.labels.items())): s.value for f in families for s in f.samples}


def value(series: Series, name: str, **labels: str) -> float:
    return series[(name, frozenset(labels.items()))]


def between(low: float, value: float, high: float) -> bool:
    """Timestamps are wall-clock seconds, to the millisecond, whatever ``CORRAL_NOW`` says."""
    return low - 0.001 <= value <= high + 0.001


def test_per_job_and_per_storage_metrics(workspace: Workspace) -> None:
    textfile = workspace.root / "node_exporter" / "corral.prom"
    textfile.parent.mkdir()
    before = time.time()
    run = workspace.start({"prometheus_textfile": str(textfile)},
                          [workspace.job("shop-db"), workspace.job("blog-db", broken_storage=True)], now=DAY1)
    after = time.time()
    assert run.code == 1
    series = read(textfile)
    shop = {"corral_job": "shop-db", "type": "external"}
    blog = {"corral_job": "blog-db", "type": "external"}
    assert value(series, "corral_job_success", **shop) == 1
    assert value(series, "corral_job_success", **blog) == 0
    assert value(series, "corral_job_errors", **blog) == 1
    assert value(series, "corral_job_archive_bytes", **shop) == 16
    assert value(series, "corral_job_archives", **shop) == 1
    assert 0 < value(series, "corral_job_duration_seconds", **shop) < 60
    shop_end = value(series, "corral_job_last_run_timestamp_seconds", **shop)
    blog_end = value(series, "corral_job_last_run_timestamp_seconds", **blog)
    assert between(before, shop_end, blog_end) and between(shop_end, blog_end, after)  # each job's own end
    assert value(series, "corral_job_last_success_timestamp_seconds", **shop) == shop_end
    assert ("corral_job_last_success_timestamp_seconds", frozenset(blog.items())) not in series  # never succeeded

    # two local storages in one job: series labelled as the log names them, `local` and `local#2`
    storages = {dict(labels)["storage"]: dict(labels)["backup_dir"] for name, labels in series
                if name == "corral_storage_success" and ("corral_job", "blog-db") in labels}
    assert storages == {"local": str(workspace.root / "backups"), "local#2": str(workspace.blocker / "backups")}
    good = {"corral_job": "blog-db", "storage": "local", "backup_dir": storages["local"]}
    bad = {"corral_job": "blog-db", "storage": "local#2", "backup_dir": storages["local#2"]}
    assert value(series, "corral_storage_success", **good) == 1
    assert value(series, "corral_storage_success", **bad) == 0
    assert value(series, "corral_storage_archive_bytes", **good) == 16
    assert value(series, "corral_storage_archive_bytes", **bad) == 0
    assert value(series, "corral_storage_last_success_timestamp_seconds", **good) == blog_end
    assert ("corral_storage_last_success_timestamp_seconds", frozenset(bad.items())) not in series
    assert value(series, "corral_storage_last_run_timestamp_seconds", **bad) == blog_end
    assert value(series, "corral_storage_upload_duration_seconds", **good) >= 0
    assert value(series, "corral_storage_rotation_deleted_files", **good) == 0

    assert stat.S_IMODE(textfile.stat().st_mode) == 0o644  # node_exporter reads it as another user
    assert sorted(p.name for p in textfile.parent.iterdir()) == ["corral.prom", "corral.prom.lock"]  # no temp left
    assert f"prometheus: metrics of 2 job(s) written to {textfile}" in run.log


def test_one_job_alone_keeps_the_other_jobs_series(workspace: Workspace) -> None:
    textfile = workspace.root / "corral.prom"
    jobs = [workspace.job("shop-db"), workspace.job("blog-db")]
    assert workspace.start({"prometheus_textfile": str(textfile)}, jobs, now=DAY1).code == 0
    before = read(textfile)
    assert workspace.start({"prometheus_textfile": str(textfile)}, jobs, job="shop-db", now=DAY2).code == 0
    after = read(textfile)
    blog_series = {key: v for key, v in before.items() if ("corral_job", "blog-db") in key[1]}
    assert len(blog_series) == 13  # 7 job series, 6 storage series
    assert {key: after[key] for key in blog_series} == blog_series  # untouched
    shop = {"corral_job": "shop-db", "type": "external"}
    assert value(after, "corral_job_last_run_timestamp_seconds", **shop) > \
        value(before, "corral_job_last_run_timestamp_seconds", **shop)
    assert set(after) == set(before)


def test_failed_run_keeps_the_last_success_time(workspace: Workspace) -> None:
    textfile = workspace.root / "corral.prom"
    main = {"prometheus_textfile": str(textfile)}
    assert workspace.start(main, [workspace.job("blog-db")], now=DAY1).code == 0
    first = value(read(textfile), "corral_job_last_success_timestamp_seconds", corral_job="blog-db", type="external")
    assert workspace.start(main, [workspace.job("blog-db", broken_storage=True)], now=DAY2).code == 1
    series = read(textfile)
    labels = {"corral_job": "blog-db", "type": "external"}
    assert value(series, "corral_job_success", **labels) == 0
    assert value(series, "corral_job_last_success_timestamp_seconds", **labels) == first
    second = value(series, "corral_job_last_run_timestamp_seconds", **labels)
    assert second > first
    good = {"corral_job": "blog-db", "storage": "local", "backup_dir": str(workspace.root / "backups")}
    assert value(series, "corral_storage_last_success_timestamp_seconds", **good) == second
    bad = {"corral_job": "blog-db", "storage": "local#2", "backup_dir": str(workspace.blocker / "backups")}
    assert value(series, "corral_storage_success", **bad) == 0
    assert ("corral_storage_last_success_timestamp_seconds", frozenset(bad.items())) not in series


def test_unparsable_file_is_rewritten_with_a_warning(workspace: Workspace) -> None:
    textfile = workspace.root / "corral.prom"
    textfile.write_text("this is { not the exposition format\n")
    run = workspace.start({"prometheus_textfile": str(textfile)}, [workspace.job("shop-db")])
    assert run.code == 0
    assert f"[WARNING] prometheus: `{textfile}` does not parse" in run.log
    assert value(read(textfile), "corral_job_success", corral_job="shop-db", type="external") == 1


def test_unwritable_textfile_is_logged_and_changes_nothing(workspace: Workspace) -> None:
    for textfile, reason in [(workspace.blocker / "corral.prom", "Not a directory"),
                             (workspace.root / "missing" / "corral.prom", "No such file or directory")]:
        run = workspace.start({"prometheus_textfile": str(textfile)}, [workspace.job("shop-db")])
        assert run.code == 0
        assert "plugin `notifier:prometheus` failed in corral_run_finished: PrometheusError: cannot write " \
               f"`{textfile}`: {reason}" in run.log


def test_label_values_with_quotes_backslashes_and_newlines_round_trip() -> None:
    from corral_notifier_prometheus.metrics import parse, render, sample

    odd = 'C:\\backups\n"quoted"'
    samples = [sample("corral_storage_success", 1, corral_job="j", storage="local", backup_dir=odd),
               sample("corral_job_duration_seconds", 1.25, corral_job='a"b', type="external")]
    assert sorted(parse(render(samples)), key=str) == sorted(samples, key=str)
