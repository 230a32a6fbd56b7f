"""Coverage in the e-mail report: the admins hear of a site or database no job backs up even when every job
succeeded; the subject counts them and the body lists them."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from corral import JobResult, RunResult, Uncovered
from corral_notifier_email import EmailNotifier

MAIN = SimpleNamespace(admin_mail=["ops@example.org"], client_mail=[], level_message="error", server_name="web1",
                       mail_from="corral@example.org")


def result(uncovered: Uncovered | None) -> RunResult:
    return RunResult(started=datetime(2026, 1, 31, 3), jobs=[JobResult(job="www", type="desc_files")],
                     uncovered=uncovered)


def test_an_uncovered_site_mails_the_admins_of_a_clean_run() -> None:
    found = Uncovered(sites=["site crm.example.com (/var/www/crm) is in no files job: add it"],
                      databases=["database `blog_wp` on mysql 127.0.0.1:3306 is dumped by no job: add it"])
    [(recipients, message)] = EmailNotifier().messages(MAIN, result(found))
    assert recipients == ["ops@example.org"]
    assert message["Subject"] == "[corral] web1: backup OK (1 job(s)); 2 not backed up"
    text = message.get_content()
    assert ("Not backed up by any job (1 site(s), 1 database(s)):\n"
            "  - site crm.example.com (/var/www/crm) is in no files job: add it\n"
            "  - database `blog_wp` on mysql 127.0.0.1:3306 is dumped by no job: add it\n") in text


def test_nothing_uncovered_or_not_looked_at_mails_nobody() -> None:
    assert EmailNotifier().messages(MAIN, result(Uncovered())) == []
    assert EmailNotifier().messages(MAIN, result(None)) == []
