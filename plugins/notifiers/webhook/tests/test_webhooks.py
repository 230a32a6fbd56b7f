"""Real ``corral start`` runs POST to a real HTTP server: reports, templates, dead-man pings, failures."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from corral.testing.cli import write_main

if TYPE_CHECKING:
    from corral.testing.notify import HTTPSink, Workspace

TOKEN = "T0KEN-3f9c2a7d1e"  # lives in URLs and headers; must never reach a log


def test_failed_run_posts_the_report_and_pings_fail(workspace: Workspace, http_sink: HTTPSink) -> None:
    main = {
        "webhook_urls": [f"{http_sink.url}/hooks/{TOKEN}"],
        "webhook_headers": {"Authorization": f"Bearer {TOKEN}", "X-Source": "nightly-backup", "X-Attempt": 31337},
        "healthcheck_url": f"{http_sink.url}/ping/{TOKEN}",
    }
    run = workspace.start(main, [workspace.job("shop-db"), workspace.job("blog-db", broken_storage=True)])
    assert run.code == 1
    assert http_sink.paths() == [f"/ping/{TOKEN}/start", f"/hooks/{TOKEN}", f"/ping/{TOKEN}/fail"]
    _start, hook, fail = http_sink.requests
    assert [r.method for r in http_sink.requests] == ["POST"] * 3
    assert hook.headers["Authorization"] == f"Bearer {TOKEN}"
    assert hook.headers["X-Source"] == "nightly-backup" and hook.headers["X-Attempt"] == "31337"
    assert hook.headers["Content-Type"] == "application/json"
    report = json.loads(hook.body)
    assert report["server"] == "web1" and report["status"] == "failure" and report["ok"] is False
    assert report["summary"] == "corral on web1: backup FAILED: blog-db (1 of 2 job(s))"
    assert report["failed_jobs"] == ["blog-db"]
    assert report["started"] == "2026-01-31T03:00:00"
    shop, blog = report["jobs"]
    assert shop["ok"] and shop["archives"][0]["size"] == 16 and shop["errors"] == []
    assert shop["started"] <= shop["finished"] <= blog["started"] <= blog["finished"]  # ISO, wall clock
    assert not blog["ok"]
    [error] = blog["errors"]
    assert error.startswith("storage local#2: target blog-db: upload failed: NotADirectoryError")
    assert report["errors"] == [f"blog-db: {error}"]
    # two storages of one kind, told apart by their labels
    good_dir, bad_dir = str(workspace.root / "backups"), str(workspace.blocker / "backups")
    [archive] = blog["archives"]
    assert archive["stored"] == {"local": f"{good_dir}/blog-db/blog-db/blog-db_2026-01-31_03-00-00.sql"}
    assert list(archive["failed"]) == ["local#2"] and "NotADirectoryError" in archive["failed"]["local#2"]
    good, bad = blog["storages"]
    assert (good["storage"], good["kind"], good["backup_dir"], good["ok"], good["size"]) == \
        ("local", "local", good_dir, True, 16)
    assert [f["path"] for f in good["stored"]] == [archive["stored"]["local"]] and good["failures"] == []
    assert (bad["storage"], bad["kind"], bad["backup_dir"], bad["ok"], bad["size"], bad["stored"]) == \
        ("local#2", "local", bad_dir, False, 0, [])
    assert bad["failures"] == [error]
    assert [s["storage"] for s in shop["storages"]] == ["local"] and shop["storages"][0]["ok"]
    assert fail.body.decode().startswith("corral on web1: backup FAILED: blog-db")
    assert "  - storage local#2: target blog-db: upload failed" in fail.body.decode()
    assert run.hides(TOKEN)
    assert f"webhook 1 (http://127.0.0.1:{http_sink.url.rsplit(':', 1)[1]}): report delivered" in run.log


def test_clean_run_pings_success_and_errors_level_stays_quiet(workspace: Workspace, http_sink: HTTPSink) -> None:
    main = {"webhook_urls": [f"{http_sink.url}/hooks/{TOKEN}"], "webhook_level": "errors",
            "healthcheck_url": f"{http_sink.url}/ping/{TOKEN}?rid=7"}
    run = workspace.start(main, [workspace.job("shop-db")])
    assert run.code == 0
    assert http_sink.paths() == [f"/ping/{TOKEN}/start?rid=7", f"/ping/{TOKEN}?rid=7"]
    assert http_sink.requests[1].body.decode().startswith("corral on web1: backup OK (1 job(s))\nok shop-db")


def test_template_shapes_the_body(workspace: Workspace, http_sink: HTTPSink) -> None:
    template = {"text": "$summary", "server": "${server}", "failed": "$failed_jobs",
                "note": "status=$status after $seconds s", "unknown": "$nothing", "n": 3}
    run = workspace.start({"webhook_urls": f"{http_sink.url}/slack", "webhook_template": template},
                          [workspace.job("shop-db")])
    assert run.code == 0
    [hook] = http_sink.requests
    body = json.loads(hook.body)
    assert body["text"] == "corral on web1: backup OK (1 job(s))"
    assert body["server"] == "web1" and body["failed"] == [] and body["n"] == 3
    assert body["note"].startswith("status=success after ") and body["unknown"] == "$nothing"


def test_every_url_is_tried_and_failures_are_one_line(workspace: Workspace, http_sink: HTTPSink) -> None:
    http_sink.status[f"/broken/{TOKEN}"] = 500
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{sock.getsockname()[1]}"
    main = {"webhook_urls": [f"{down}/hooks/{TOKEN}", f"{http_sink.url}/broken/{TOKEN}",
                             f"{http_sink.url}/ok/{TOKEN}"],
            "healthcheck_url": f"{down}/ping/{TOKEN}"}
    run = workspace.start(main, [workspace.job("shop-db")])
    assert run.code == 0  # notifiers never change the outcome of the backup
    assert http_sink.paths() == [f"/broken/{TOKEN}", f"/ok/{TOKEN}"]
    errors = [line for line in run.log.splitlines() if "notifier:webhook" in line]
    assert len(errors) == 2, errors
    assert errors[0].endswith(f"failed in corral_run_started: WebhookError: dead-man ping /start: cannot reach "
                              f"{down}: Connection refused")
    assert f"webhook 1: cannot reach {down}: Connection refused; webhook 2: {http_sink.url} answered HTTP 500 " \
           f"Internal Server Error; dead-man ping (success): cannot reach {down}: Connection refused" in errors[1]
    assert "job finished successfully" in run.log
    assert run.hides(TOKEN)


def test_slow_endpoint_times_out(workspace: Workspace, http_sink: HTTPSink) -> None:
    http_sink.delay["/slow"] = 3
    run = workspace.start({"webhook_urls": f"{http_sink.url}/slow", "webhook_timeout": 0.5},
                          [workspace.job("shop-db")])
    assert run.code == 0
    assert f"WebhookError: webhook 1: {http_sink.url}: no answer within 0.5 s" in run.log


def test_credentials_in_the_url_become_basic_auth(workspace: Workspace, http_sink: HTTPSink) -> None:
    url = http_sink.url.replace("http://", f"http://corral:{TOKEN}@") + "/hook"
    run = workspace.start({"webhook_urls": url}, [workspace.job("shop-db")])
    assert run.code == 0
    [hook] = http_sink.requests
    assert hook.headers["Authorization"] == "Basic Y29ycmFsOlQwS0VOLTNmOWMyYTdkMWU="  # corral:T0KEN-...
    assert run.hides(TOKEN)


def test_not_an_http_url_is_reported_without_the_url(workspace: Workspace) -> None:
    run = workspace.start({"webhook_urls": f"ftp://example.org/{TOKEN}"}, [workspace.job("shop-db")])
    assert run.code == 0
    assert "WebhookError: webhook 1: `ftp://...` is not an http(s) URL" in run.log
    assert run.hides(TOKEN)


def test_bad_header_name_is_a_config_error_that_hides_values(workspace: Workspace) -> None:
    run = workspace.start({"webhook_urls": "http://127.0.0.1:9/x", "webhook_headers": {"Bad Name": TOKEN}},
                          [workspace.job("shop-db")])
    assert run.code == 2
    assert "`webhook_headers.Bad Name (as a key)`: not an HTTP header name" in run.stderr
    assert run.hides(TOKEN)


def test_interrupted_run_pings_fail(workspace: Workspace, http_sink: HTTPSink) -> None:
    """SIGTERM during a dump: the run ends in order and the ping says it failed, never silence."""
    hang = workspace.root / "hang.sh"
    hang.write_text("#!/bin/sh\nsleep 60\n")
    hang.chmod(0o755)
    job = {**workspace.job("slow-db"), "dump_cmd": str(hang)}
    config = write_main(workspace.root, [job], server_name="web1",
                        healthcheck_url=f"{http_sink.url}/ping/{TOKEN}",
                        webhook_urls=f"{http_sink.url}/hook")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    process = subprocess.Popen([sys.executable, "-m", "corral", "start", "-c", str(config)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while f"/ping/{TOKEN}/start" not in http_sink.paths() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # let the job reach its dump
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 143, stderr
    assert http_sink.paths() == [f"/ping/{TOKEN}/start", "/hook", f"/ping/{TOKEN}/fail"]
    assert json.loads(http_sink.requests[1].body)["status"] == "interrupted"
    assert http_sink.requests[2].body.decode().startswith("corral on web1: backup INTERRUPTED")


def test_a_hung_dump_reaches_the_hook_as_a_timeout(workspace: Workspace, http_sink: HTTPSink) -> None:
    """Per-stage timeouts from the core surface as failures in the notification, not as a silent hang."""
    hung = workspace.root / "hung.sh"
    hung.write_text("#!/bin/sh\nsleep 60\n")
    hung.chmod(0o755)
    job = {**workspace.job("stuck-db"), "dump_cmd": str(hung)}
    main = {"webhook_urls": [f"{http_sink.url}/hooks/{TOKEN}"], "healthcheck_url": f"{http_sink.url}/ping/{TOKEN}",
            "dump_timeout": 2}
    run = workspace.start(main, [job, workspace.job("shop-db")])
    assert run.code == 1
    assert http_sink.paths() == [f"/ping/{TOKEN}/start", f"/hooks/{TOKEN}", f"/ping/{TOKEN}/fail"]
    report = json.loads(http_sink.requests[1].body)
    stuck, shop = report["jobs"]
    assert stuck["errors"] == ["dump: dump timed out after 2 s (dump_timeout) and was stopped"]
    assert shop["ok"]


def test_redirects_are_refused_and_no_credential_reaches_the_other_server(
    workspace: Workspace, http_sink: HTTPSink, other_http_sink: HTTPSink
) -> None:
    """urllib would follow a 301/302/303 to any host, http included, with every header (and turn the POST into
    a GET that looks delivered): each redirect is a failure naming only where it pointed."""
    elsewhere = other_http_sink.url
    http_sink.redirect.update({
        f"/hooks/{TOKEN}": f"{elsewhere}/hooks/{TOKEN}",
        "/basic": f"{elsewhere}/basic",
        f"/ping/{TOKEN}": f"{elsewhere}/ping/{TOKEN}",
    })  # fmt: skip
    http_sink.status["/basic"] = 301
    http_sink.status[f"/ping/{TOKEN}"] = 303
    main = {"webhook_urls": [f"{http_sink.url}/hooks/{TOKEN}", http_sink.url.replace("//", f"//corral:{TOKEN}@")
                             + "/basic"],
            "webhook_headers": {"Authorization": f"Bearer {TOKEN}"}, "healthcheck_url": f"{http_sink.url}/ping/{TOKEN}"}
    run = workspace.start(main, [workspace.job("shop-db")])
    assert run.code == 0
    assert other_http_sink.requests == []
    assert http_sink.paths() == [f"/ping/{TOKEN}/start", f"/hooks/{TOKEN}", "/basic", f"/ping/{TOKEN}"]
    [line] = [line for line in run.log.splitlines() if "corral_run_finished" in line]
    refused = "not followed (credentials go to the configured address only); put the final URL in the config"
    assert f"webhook 1: {http_sink.url} answered HTTP 302 Found, a redirect to {elsewhere}: {refused}; " in line
    assert f"webhook 2: {http_sink.url} answered HTTP 301 Moved Permanently, a redirect to {elsewhere}: " in line
    assert f"dead-man ping (success): {http_sink.url} answered HTTP 303 See Other, a redirect to {elsewhere}: " in line
    assert run.hides(TOKEN)
