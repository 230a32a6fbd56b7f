"""`corral console` in a real browser (the system's Chromium driven by Playwright), reading the run records that
real `corral start` runs of two simulated servers wrote to one SeaweedFS bucket: the login, the fleet table with
the failed job first, sorting and filtering, a failed job's error with its secret masked, a run's page, the logout.

Set CORRAL_SCREENSHOTS to a folder to save the pages the docs show (login.png, fleet.png, job-failed.png).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import pytest
import yaml

from corral.masking import MASK
from corral.testing.cli import CORRAL, corral, write_main
from corral_testservers import S3Server
from corral_testservers.ports import free_ports, port_open
from corral_testservers.prerequisites import missing

pytestmark = pytest.mark.slow

USER, PASSWORD = "ops", "correct horse battery"
SMTP_SECRET = "web2-Smtp-Pass-8c1f4e"  # a password only web-2's config holds: its own run must mask it
VIEWPORT = {"width": 1280, "height": 800}


@dataclass
class Fleet:
    """The console serving the records of web-1 and web-2, and what a test needs to reach and judge it."""

    url: str
    access_key: str  # the S3 key the forged record names beside the secret
    secrets: list[str]  # none may show up in any page


def _s3(server: S3Server, backup_dir: str) -> dict[str, Any]:
    return {
        "storage": "s3",
        "backup_dir": backup_dir,
        "bucket": server.bucket,
        "endpoint_url": server.endpoint_url,
        "region": server.region,
        "access_key_id": server.access_key,
        "secret_access_key": server.secret_key,
    }


def _sites(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).mkdir(parents=True)
        (root / name / "index.html").write_text(f"{name}\n" * 200)
        (root / name / "blob.bin").write_bytes(os.urandom(5_000 * (1 + len(name))))
    return root


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\nset -e\n" + body)
    path.chmod(0o755)
    return str(path)


def _server(base: Path, name: str, jobs: list[dict[str, Any]], grow: Path | None = None, **main: Any) -> None:
    """One simulated server: its own main file, run by the real `corral start`; with ``grow``, a file is added
    there and it runs once more (a size trend)."""
    base.mkdir()
    config = str(write_main(base, jobs, server_name=name, **main))
    failed = any(job["type"] == "external" for job in jobs)
    for run in range(2 if grow else 1):
        if run:
            time.sleep(1)  # a new stamp: a run in the same second replaces the record
            (grow / "new.bin").write_bytes(os.urandom(20_000))  # type: ignore[operator]
        done = corral("start", "-c", config, timeout=120)
        assert done.returncode == (1 if failed else 0), done.stdout + done.stderr


def _forged_record(server: S3Server, backup_dir: str) -> None:
    """A record as a careless writer (an old corral, a script) could leave it: the console config's S3 secret in
    clear in its errors. The console must mask it itself."""
    secret = server.secret_key
    record = {"format": 1, "kind": "start", "server": "web-3", "job": "legacy", "type": "external",
              "stamp": "2026-01-30_03-00-00", "started": "2026-01-30T03:00:00Z", "finished": "2026-01-30T03:00:04Z",
              "outcome": "failed", "corral": "0.0.9", "plugins": {}, "seconds": 4.0, "size": 0,
              "targets": [{"target": "db", "outcome": "failed", "archives": 0, "size": 0, "stored": [],
                           "failed": {"s3": f"refused for secret {secret}"}, "errors": [f"target db: key {secret}"]}],
              "targets_left_out": 0, "storages": [], "warnings": [],
              "errors": [f"upload: s3 refused the key {server.access_key}:{secret}"]}  # fmt: skip
    fs = fsspec.filesystem("s3", skip_instance_cache=True, **server.storage_options())
    path = f"{server.bucket}{backup_dir}/legacy/.runs/2026-01-30_03-00-00.web-3.start.json"
    fs.pipe_file(path, json.dumps(record).encode())


def _wait_for_port(process: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(port):
        assert process.poll() is None, f"corral console exited {process.returncode}: {log.read_text()}"
        assert time.monotonic() < deadline, f"corral console did not answer on {port}: {log.read_text()}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def playwright_api() -> Any:
    """Playwright's sync API and the system Chromium: skipped locally, a failure in CI, when either is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Python module `playwright`", "pip install playwright")
    chromium = shutil.which("chromium")
    if chromium is None:
        missing("`chromium`", "apt-get install -y chromium")
    return sync_playwright, chromium


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server, playwright_api: Any) -> Iterator[Fleet]:
    """Two servers' real runs in one bucket folder, a forged record, and `corral console` serving them."""
    tmp = tmp_path_factory.mktemp("fleet")
    backup_dir = f"/console-{tmp.name[-12:]}"
    storage = _s3(s3_server, backup_dir)
    www1, www2 = _sites(tmp / "www1", "alpha", "beta"), _sites(tmp / "www2", "gamma")
    (tmp / "uploads").mkdir()
    (tmp / "uploads" / "media").mkdir()
    (tmp / "uploads" / "media" / "photo.jpg").write_bytes(os.urandom(30_000))
    dump = _script(tmp / "dump.sh", f"echo 'pg_dump: password authentication failed: {SMTP_SECRET}' >&2\nexit 1\n")
    web1 = [{"job": "sites", "type": "desc_files", "sources": [{"target": [f"{www1}/*/"]}], "storages": [storage]},
            {"job": "uploads", "type": "desc_files", "sources": [{"target": [f"{tmp / 'uploads'}/*/"]}],
             "storages": [storage]}]  # fmt: skip
    web2 = [
        {"job": "sites", "type": "desc_files", "sources": [{"target": [f"{www2}/*/"]}], "storages": [storage]},
        {"job": "shop-db", "type": "external", "dump_cmd": dump, "storages": [storage]},
    ]
    with ThreadPoolExecutor(3) as pool:  # the two servers run at the same time, as a fleet's cron jobs do
        runs = [
            pool.submit(_server, tmp / "web-1", "web-1", web1, grow=www1 / "alpha"),
            pool.submit(_server, tmp / "web-2", "web-2", web2, smtp_password=SMTP_SECRET),
        ]
        hashing = pool.submit(corral, "console", "--hash-password", input=PASSWORD + "\n")
        for run in runs:
            run.result()
        hashed = hashing.result()
    _forged_record(s3_server, backup_dir)
    assert hashed.returncode == 0 and hashed.stdout.startswith("$argon2"), hashed.stderr
    config = tmp / "console.conf"
    config.write_text(yaml.safe_dump({
        "main": {"server_name": "console", "general_path_to_all_tmp_dir": str(tmp / "console-tmp"),
                 "log_file_name": str(tmp / "console-log" / "corral.log")},
        "console": {"storages": [storage], "users": {USER: hashed.stdout.strip()}, "refresh": 5,
                    "cache_dir": str(tmp / "cache")},
        "jobs": []}, sort_keys=False))  # fmt: skip
    (port,) = free_ports(1)
    log = tmp / "console.out"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CORRAL_")}
    with log.open("wb") as out:
        process = subprocess.Popen([*CORRAL, "console", "-c", str(config), "--listen", f"127.0.0.1:{port}"],
                                   stdout=out, stderr=subprocess.STDOUT, env=env)  # fmt: skip
    try:
        _wait_for_port(process, port, log)
        yield Fleet(f"http://127.0.0.1:{port}", s3_server.access_key, [s3_server.secret_key, SMTP_SECRET])
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                pytest.fail(f"corral console did not exit on SIGTERM: {log.read_text()}")
    # an orderly stop: the server shut down, the cache closed, exit 0 (systemd counts SIGTERM's own exit as clean too)
    assert process.returncode == 0, f"corral console exited {process.returncode}: {log.read_text()}"
    assert "Traceback" not in log.read_text()
    assert "Traceback" not in log.read_text(), log.read_text()


@pytest.fixture(scope="module")
def browser(playwright_api: Any) -> Iterator[Any]:
    sync_playwright, chromium = playwright_api
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def console_errors() -> list[str]:
    """The errors the browser logged in the page's console (a CSP violation is one) or a script raised."""
    return []


@pytest.fixture
def page(browser: Any, fleet: Fleet, console_errors: list[str]) -> Iterator[Any]:
    """A fresh browser context (no cookie); the test fails on any console error."""
    context = browser.new_context(viewport=VIEWPORT, base_url=fleet.url)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.on("console", lambda message: console_errors.append(f"{message.text} ({message.location.get('url')})")
           if message.type == "error" else None)  # fmt: skip
    tab.on("pageerror", lambda error: console_errors.append(str(error)))
    tab.on("response", lambda answer: console_errors.append(f"{answer.status} {answer.url}")
           if answer.status >= 400 else None)  # fmt: skip
    yield tab
    context.close()
    assert console_errors == [], console_errors


def _screenshot(page: Any, name: str) -> None:
    folder = os.environ.get("CORRAL_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name))


def _log_in(page: Any, user: str = USER, password: str = PASSWORD) -> None:
    page.goto("/")
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", password)
    page.click("form.login button[type=submit]")
    page.wait_for_load_state()


def _fleet_rows(page: Any, visible_only: bool = False) -> list[tuple[str, str, str]]:
    """(status, server, job) of the fleet table's rows, in the order shown."""
    rows = page.locator("#fleet tbody tr:not([hidden])" if visible_only else "#fleet tbody tr")
    return [tuple(cells[:3]) for cells in (r.split("\t") for r in rows.evaluate_all(
        "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent.trim()).join('\\t'))"))]  # fmt: skip


def _wait_for_fleet(page: Any, rows: int, timeout: float = 60) -> None:
    """The console reads the storages in the background: reload until every job has shown up."""
    deadline = time.monotonic() + timeout
    while len(_fleet_rows(page)) < rows:
        assert time.monotonic() < deadline, f"the fleet table never had {rows} rows: {page.url} {page.content()}"
        time.sleep(0.5)
        page.reload()


def _arrow(header: Any) -> str:
    """The sort arrow a column header shows (its ``::after``)."""
    return str(header.evaluate("th => getComputedStyle(th, '::after').content")).strip('" ')


def _assert_no_secret(page: Any, fleet: Fleet) -> None:
    html = page.content()
    for secret in fleet.secrets:
        assert secret not in html, f"a secret is in the HTML of {page.url}"


def test_the_login_is_required_and_a_wrong_password_refused(page: Any, fleet: Fleet, console_errors: list[str]) -> None:
    page.goto("/")
    assert page.url == f"{fleet.url}/login"
    assert page.locator("form.login").is_visible()
    # before a login, nothing of the fleet: not even how many records the storages hold
    assert page.locator("header").inner_text().strip() == "corral console"
    _screenshot(page, "login.png")
    _log_in(page, password="not the password")
    assert page.get_by_role("alert").inner_text().strip() == "Wrong user name or password."
    assert page.locator("#fleet").count() == 0
    # the browser logs the refused login's 401 answer; nothing else may be logged
    console_errors[:] = [line for line in console_errors if "status of 401" not in line and not line.startswith("401 ")]
    page.goto("/")
    assert page.url == f"{fleet.url}/login" and page.locator("#fleet").count() == 0


def test_the_fleet_shows_the_failed_jobs_first_sorts_and_filters(page: Any, fleet: Fleet) -> None:
    _log_in(page)
    assert page.url == f"{fleet.url}/"
    _wait_for_fleet(page, 5)
    rows = _fleet_rows(page)
    assert rows[0] == ("failed", "web-2", "shop-db"), rows
    assert rows[1] == ("failed", "web-3", "legacy"), rows  # the forged record, older and of a later name
    assert sorted(rows[2:]) == [("ok", "web-1", "sites"), ("ok", "web-1", "uploads"), ("ok", "web-2", "sites")]
    assert page.locator(".counts").inner_text().split()[:2] == ["2", "failed"]
    grown = page.locator("#fleet tbody tr", has=page.locator("a[href='/job/web-1/sites']"))
    assert grown.locator("svg.spark polyline").count() == 1  # two runs: a size trend
    assert grown.locator("td").nth(7).inner_text().startswith("+"), grown.inner_text()  # the second is bigger
    _assert_no_secret(page, fleet)
    _screenshot(page, "fleet.png")

    server = page.locator("#fleet th:has-text('Server')")
    server.click()
    servers = [row[1] for row in _fleet_rows(page)]
    assert servers == sorted(servers) and servers[0] == "web-1", servers
    assert _arrow(server) == "\u25b2"
    server.click()
    servers = [row[1] for row in _fleet_rows(page)]
    assert servers == sorted(servers, reverse=True) and servers[0] == "web-3", servers
    assert _arrow(server) == "\u25bc"
    page.click("#fleet th:has-text('Status')")
    assert [row[0] for row in _fleet_rows(page)] == ["failed", "failed", "ok", "ok", "ok"]

    page.fill("input.filter", "web-1")
    assert sorted(_fleet_rows(page, visible_only=True)) == [("ok", "web-1", "sites"), ("ok", "web-1", "uploads")]
    page.fill("input.filter", "failed shop")
    assert _fleet_rows(page, visible_only=True) == [("failed", "web-2", "shop-db")]
    page.fill("input.filter", "")
    assert len(_fleet_rows(page, visible_only=True)) == 5


def test_a_failed_jobs_error_shows_with_its_secret_masked(page: Any, fleet: Fleet) -> None:
    _log_in(page)
    _wait_for_fleet(page, 5)
    page.click("#fleet a[href='/job/web-2/shop-db']")
    assert page.url == f"{fleet.url}/job/web-2/shop-db"
    errors = page.locator("section.failure ul.errors li").all_inner_texts()
    assert any(f"pg_dump: password authentication failed: {MASK}" in line for line in errors), errors
    _assert_no_secret(page, fleet)
    _screenshot(page, "job-failed.png")
    page.click("section.failure a:has-text('The whole record')")
    assert "/run/web-2/shop-db/start/" in page.url
    assert page.locator("h1").inner_text().startswith("start ")
    assert any(MASK in line for line in page.locator("ul.errors li").all_inner_texts())
    _assert_no_secret(page, fleet)

    # a record written with the console's own S3 secret in clear: the console masks it wherever it shows
    page.goto("/job/web-3/legacy")
    errors = page.locator("section.failure ul.errors li").all_inner_texts()
    assert errors == [f"upload: s3 refused the key {fleet.access_key}:{MASK}"], errors
    _assert_no_secret(page, fleet)
    page.click("section.failure a:has-text('The whole record')")
    text = page.locator("main").inner_text()
    assert f"refused for secret {MASK}" in text and f"target db: key {MASK}" in text, text
    assert "stored on" not in text  # a target stored nowhere says only why
    _assert_no_secret(page, fleet)


def test_the_server_page_and_logout(page: Any, fleet: Fleet) -> None:
    _log_in(page)
    _wait_for_fleet(page, 5)
    page.click("#fleet a[href='/server/web-1']")
    assert page.locator("h1").inner_text() == "Server web-1"
    assert sorted(page.locator("#server tbody tr td:nth-child(2)").all_inner_texts()) == ["sites", "uploads"]
    page.click("#server a[href='/job/web-1/sites']")
    assert page.locator("h1").inner_text().startswith("Job sites")
    page.click("#runs tbody tr:first-child a")
    assert page.locator(".status").first.inner_text() == "ok"
    page.click("button:has-text('Log out')")
    page.wait_for_load_state()
    assert page.url == f"{fleet.url}/login" and page.locator("form.login").is_visible()
    page.goto("/")
    assert page.url == f"{fleet.url}/login"
    page.goto("/job/web-2/shop-db")
    assert page.url == f"{fleet.url}/login"
