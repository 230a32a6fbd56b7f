"""Coverage in the webhook payload: ``uncovered`` (null when the run did not look), the lines in ``text``."""

from __future__ import annotations

from datetime import datetime

from corral import JobResult, RunResult, Uncovered
from corral_notifier_webhook.report import variables


def test_payload_carries_what_no_job_backs_up() -> None:
    found = Uncovered(sites=["site a.example.com (/var/www/a) is in no files job: add it"], databases=[])
    run = RunResult(started=datetime(2026, 1, 31, 3), jobs=[JobResult(job="www", type="desc_files")],
                    uncovered=found)
    values = variables("web1", run)
    assert values["uncovered"] == {"sites": found.sites, "databases": []}
    assert values["text"].endswith("\nnot backed up: site a.example.com (/var/www/a) is in no files job: add it")
    assert values["ok"] is True
    assert variables("web1", RunResult(started=datetime(2026, 1, 31, 3)))["uncovered"] is None
