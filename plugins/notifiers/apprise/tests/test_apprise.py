"""Apprise posts to a real local HTTP server through its generic json:// and form:// services."""

from __future__ import annotations

import json
import socket
import urllib.parse
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from corral.testing.notify import HTTPSink, Workspace

TOKEN = "T0KEN-8d1c4e2b9a"
PASSWORD = "Pa55-7e1f0c3b2d"


def apprise_url(sink: HTTPSink, kind: str, path: str) -> str:
    return sink.url.replace("http://", f"{kind}://") + path


def test_failed_run_reaches_a_json_service(workspace: Workspace, http_sink: HTTPSink) -> None:
    url = apprise_url(http_sink, "json", f"/notify/{TOKEN}")
    run = workspace.start({"apprise_urls": [url]},
                          [workspace.job("shop-db"), workspace.job("blog-db", broken_storage=True)])
    assert run.code == 1
    [request] = http_sink.requests
    assert request.method == "POST" and request.path == f"/notify/{TOKEN}"
    message = json.loads(request.body)
    assert message["type"] == "failure"
    assert message["title"] == "corral on web1: backup FAILED: blog-db (1 of 2 job(s))"
    shop, blog, error, warning = message["message"].splitlines()
    assert shop.startswith("ok shop-db (external): 1 archive(s), 16 B, ")
    assert blog.startswith("FAILED blog-db (external): 1 archive(s), 16 B, ")
    # the second local storage of the job failed, named by its label; the first one worked
    assert error.startswith("  - storage local#2: target blog-db: upload failed: NotADirectoryError: [Errno 20] "
                            f"Not a directory: '{workspace.blocker / 'backups'}")
    # nor could its run record be written there (docs/run-records.md): a warning, the outcome unchanged
    assert warning.startswith("  - warning: storage local#2: the run record could not be written")
    assert "apprise: notified 1 service(s)" in run.log
    assert run.hides(TOKEN)


def test_clean_run_reaches_a_form_service_and_errors_level_is_quiet(
    workspace: Workspace, http_sink: HTTPSink
) -> None:
    url = apprise_url(http_sink, "form", "/form")
    run = workspace.start({"apprise_urls": url}, [workspace.job("shop-db")])
    assert run.code == 0
    [request] = http_sink.requests
    form = dict(urllib.parse.parse_qsl(request.body.decode()))
    assert form["type"] == "success"
    assert form["title"] == "corral on web1: backup OK (1 job(s))"
    assert form["message"].startswith("ok shop-db (external)")

    quiet = workspace.start({"apprise_urls": url, "apprise_level": "errors"}, [workspace.job("shop-db")])
    assert quiet.code == 0
    assert len(http_sink.requests) == 1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_failing_services_are_named_without_their_secrets(workspace: Workspace, http_sink: HTTPSink) -> None:
    http_sink.status[f"/broken/{TOKEN}"] = 500
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        down = f"json://corral:{PASSWORD}@127.0.0.1:{sock.getsockname()[1]}/down/{TOKEN}"
    urls = [down, apprise_url(http_sink, "json", f"/broken/{TOKEN}"), apprise_url(http_sink, "json", "/ok"),
            f"nonsense://{TOKEN}"]
    run = workspace.start({"apprise_urls": urls}, [workspace.job("shop-db")])
    assert run.code == 0  # a notifier's failure never changes the backup's outcome
    assert http_sink.paths() == [f"/broken/{TOKEN}", "/ok"]
    [line] = [line for line in run.log.splitlines() if "notifier:apprise" in line]
    assert "failed in corral_run_finished: AppriseError: apprise_urls[0] (JSON): A Connection error occurred " \
           "sending JSON notification to 127.0.0.1.; " in line, line
    assert "; apprise_urls[1] (JSON): Failed to send JSON " in line, line
    assert "error=500" in line, line
    assert "apprise_urls[3]: Apprise does not understand `nonsense://...` URLs" in line
    assert "apprise: notified 1 service(s)" in run.log
    assert run.hides(TOKEN) and run.hides(PASSWORD)


def test_no_part_of_a_telegram_bot_token_survives_the_scrubber() -> None:
    """``tgram://ID:TOKEN/CHAT``: the host is ``ID`` and ``TOKEN`` reads as its port; both are the credential."""
    from corral_notifier_apprise import scrub

    bot, token = "123456789", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    url = f"tgram://{bot}:{token}/-1001234567890"
    # what Apprise writes about a request (its debug line; a service's exception carries the same URL)
    said = f"Telegram POST URL: https://api.telegram.org/bot{bot}:{token}/sendMessage (cert_verify=True)"
    assert scrub(said, [url]) == "Telegram POST URL: https://api.telegram.org/bot*****:*****/sendMessage " \
        "(cert_verify=True)"
    short = "json://ops:x1@hooks.example.com/notify"  # a password is masked whatever its length
    assert scrub("login ops:x1 refused by hooks.example.com", [short]) == "login ops:***** refused by hooks.example.com"
