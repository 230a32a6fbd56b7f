"""`corral console` against hostile input: records a server sharing the storage crafted to stop the readings or
break a page, a server's clock far ahead, and the session cookie behind a TLS proxy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from corral.config import load_config
from corral_console.auth import hash_password
from corral_console.serve import build

PASSWORD = "correct horse battery"


def _record(runs: Path, stamp: str, server: str = "web-1", **values: Any) -> Path:
    runs.mkdir(parents=True, exist_ok=True)
    body = {"format": 1, "kind": "start", "server": server, "job": runs.parent.name, "stamp": stamp,
            "outcome": "ok", "size": 1000, "finished": stamp[:10] + "T" + stamp[11:].replace("-", ":") + "Z",
            **values}
    path = runs / f"{stamp}.{server}.start.json"
    path.write_text(json.dumps(body))
    return path


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Any]:
    """A console over the local folder ``tmp_path/store`` (filled by the test before ``open``)."""
    opened: list[Any] = []

    def open_console(**settings: Any) -> tuple[Any, TestClient]:
        path = tmp_path / "console.conf"
        path.write_text(yaml.safe_dump({"main": {"general_path_to_all_tmp_dir": str(tmp_path / "t")}, "console": {
            "cache_dir": str(tmp_path / "cache"), **settings,
            "storages": [{"storage": "local", "backup_dir": str(tmp_path / "store")}]}}))
        made, app, _, _ = build(load_config(path, partial=True), None, [])
        opened.append(made)
        return made, TestClient(app, base_url="http://127.0.0.1:8640")

    yield open_console
    for made in opened:
        made.index.close()


def test_a_deeply_nested_record_is_unreadable_and_the_readings_go_on(tmp_path: Path, console: Any) -> None:
    """JSON nested 100,000 deep made json.loads raise RecursionError (no ValueError): every reading failed on it,
    and the records after it were never read."""
    runs = tmp_path / "store" / "site" / ".runs"
    (runs / "2026-11-30_03-00-00.web-6.start.json").parent.mkdir(parents=True)
    (runs / "2026-11-30_03-00-00.web-6.start.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    _record(runs, "2026-11-29_03-00-00")
    made, client = console()
    reading = made.index.read()
    assert reading.fetched == 2 and not reading.errors
    page = client.get("/job/web-6/site").text
    assert "not JSON" in page
    assert '<a href="/job/web-1/site">' in client.get("/").text


def test_a_record_nested_just_below_the_limit_does_not_break_its_pages(tmp_path: Path, console: Any) -> None:
    runs = tmp_path / "store" / "site" / ".runs"
    deep: Any = "x"
    for _ in range(950):
        deep = [deep]
    _record(runs, "2026-11-30_03-00-00", outcome="failed", errors=deep, targets=deep, plugins={"a": deep})
    made, client = console()
    made.index.read()
    assert client.get("/job/web-1/site").status_code == 200
    assert client.get("/run/web-1/site/start/2026-11-30_03-00-00").status_code == 200


def test_a_size_past_sqlites_integers_is_no_size_and_the_readings_go_on(tmp_path: Path, console: Any) -> None:
    """A size of 10**20 raised OverflowError storing it in the cache: every reading failed on that record."""
    runs = tmp_path / "store" / "site" / ".runs"
    _record(runs, "2026-11-30_03-00-00", size=10**20)
    _record(runs, "2026-11-29_03-00-00", server="web-2")
    made, client = console()
    reading = made.index.read()
    assert reading.fetched == 2 and not reading.errors
    assert client.get("/job/web-1/site").status_code == 200


@pytest.mark.parametrize("finished", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+12:00"])
def test_a_finished_time_out_of_pythons_range_does_not_break_the_fleet_page(tmp_path: Path, console: Any,
                                                                           finished: str) -> None:  # fmt: skip
    """``astimezone`` raised OverflowError: the fleet page was a 500 for everyone."""
    runs = tmp_path / "store" / "site" / ".runs"
    _record(runs, "2026-11-30_03-00-00", finished=finished)
    _record(tmp_path / "store" / "other" / ".runs", "2026-11-30_03-00-00", server="web-2")
    made, client = console()
    made.index.read()
    page = client.get("/")
    assert page.status_code == 200 and "web-2" in page.text


@pytest.mark.parametrize("errors", [5, True, 1.5])
def test_a_failed_records_errors_that_are_no_list_do_not_break_the_job_page(tmp_path: Path, console: Any,
                                                                           errors: Any) -> None:  # fmt: skip
    runs = tmp_path / "store" / "site" / ".runs"
    _record(runs, "2026-11-30_03-00-00", outcome="failed", errors=errors)
    made, client = console()
    made.index.read()
    page = client.get("/job/web-1/site")
    assert page.status_code == 200 and "Errors of the failed run" in page.text


@pytest.mark.parametrize("finished", ["2099-01-01T03:00:09Z", "2026-11-30T03:00:09Z"])
def test_a_record_dated_far_ahead_does_not_hide_the_jobs_failures(tmp_path: Path, console: Any,
                                                                  finished: str) -> None:  # fmt: skip
    """A server whose clock once jumped to 2099 (or a hostile one) wrote an ok record: it stayed the newest run,
    the job showed ok for good however its real runs failed (and retention keeps the newest of a kind)."""
    runs = tmp_path / "store" / "site" / ".runs"
    _record(runs, "2099-01-01_03-00-00", finished=finished)
    _record(runs, "2026-11-29_03-00-00", outcome="failed")
    made, client = console()
    made.index.read()
    page = client.get("/").text
    assert '<tr class="failed">' in page and "1 failed" in page


def test_the_session_cookie_is_secure_when_the_login_page_was_reached_over_https(tmp_path: Path,
                                                                                 console: Any) -> None:  # fmt: skip
    """Behind the TLS proxy the docs ask for, the session cookie lacked Secure: a browser sent it in clear to any
    http:// page of the same host name (a port-80 redirect, a network attacker's injected request)."""
    _record(tmp_path / "store" / "site" / ".runs", "2026-11-30_03-00-00")
    _made, client = console(users={"ops": hash_password(PASSWORD)}, hosts=["console.example"])
    with client:
        form = client.get("/login", headers={"host": "console.example"}).text
        token = form.split('name="token" value="', 1)[1].split('"', 1)[0]
        done = client.post("/login", data={"token": token, "user": "ops", "password": PASSWORD},
                           headers={"host": "console.example", "origin": "https://console.example"},
                           follow_redirects=False)
    assert done.status_code == 303
    cookie = next(v for k, v in done.headers.multi_items() if k == "set-cookie" and v.startswith("corral_session="))
    assert "secure" in cookie.lower()


def test_behind_a_proxy_on_this_machine_a_rebinding_page_cannot_name_its_own_user(tmp_path: Path,
                                                                                  console: Any) -> None:  # fmt: skip
    """With the default trusted_proxies (127.0.0.1, ::1) every browser on this machine is "the proxy": a web page
    that rebinds evil.example to 127.0.0.1 sent X-Remote-User itself (a same-origin fetch may) and read the fleet.
    The Host check that protects a console without a login applies there too."""
    _record(tmp_path / "store" / "site" / ".runs", "2026-11-30_03-00-00")
    made, _ = console(proxy_header="X-Remote-User")
    from corral_console.app import make_app

    with TestClient(make_app(made), base_url="http://127.0.0.1:8640", client=("127.0.0.1", 5000)) as browser:
        assert browser.get("/", headers={"X-Remote-User": "eve", "host": "evil.example:8640"}).status_code == 400
        assert browser.get("/", headers={"X-Remote-User": "alice"}).status_code == 200  # nginx's default Host
    remote, _ = console(proxy_header="X-Remote-User", trusted_proxies=["10.0.0.5"])
    with TestClient(make_app(remote), base_url="http://127.0.0.1:8640", client=("10.0.0.5", 5000)) as proxy:
        page = proxy.get("/", headers={"X-Remote-User": "alice", "host": "console.example"})
        assert page.status_code == 200  # a proxy elsewhere: no browser here can pass for it


def test_wrong_passwords_from_one_ipv6_network_are_throttled_together() -> None:
    """A host holds a whole /64: counted per address, each of its 2^64 addresses had five guesses."""
    from corral_console.auth import FAILURES, Auth

    auth = Auth({"ops": hash_password(PASSWORD)}, None, [], 1)
    for n in range(FAILURES):
        assert auth.login("ops", f"guess{n}", f"2001:db8:1:2::{n + 1:x}") is None
    assert auth.throttled("2001:db8:1:2:ffff::9")
    assert not auth.throttled("2001:db8:1:3::1") and not auth.throttled("192.0.2.1")


def test_behind_a_proxy_a_users_header_sent_twice_names_nobody(tmp_path: Path, console: Any) -> None:
    """A proxy that adds its header to the client's (Apache's `RequestHeader add`, a proxy chain) forwarded both:
    the client's own, first, was believed."""
    _record(tmp_path / "store" / "site" / ".runs", "2026-11-30_03-00-00")
    made, _ = console(proxy_header="X-Remote-User")
    from corral_console.app import make_app

    with TestClient(make_app(made), base_url="http://127.0.0.1:8640", client=("127.0.0.1", 5000)) as proxy:
        twice = proxy.get("/", headers=[("X-Remote-User", "eve"), ("X-Remote-User", "alice")])
        assert twice.status_code == 403
        assert proxy.get("/", headers={"X-Remote-User": "alice"}).status_code == 200


def test_trusted_proxies_that_trust_everyone_or_nothing_are_refused(tmp_path: Path) -> None:
    """`0.0.0.0/0` let anyone name the user; a host name or a typo was skipped in silence (every request a 403)."""
    from corral.testing.cli import corral

    path = tmp_path / "console.conf"
    path.write_text("main: {}\njobs: []\nconsole:\n  proxy_header: X-Remote-User\n  trusted_proxies: [0.0.0.0/0]\n")
    done = corral("check", "-c", str(path), timeout=60)
    assert done.returncode == 2 and f"{path}:5: console: `trusted_proxies`" in done.stderr
    assert "every address" in done.stderr
    path.write_text("main: {}\njobs: []\nconsole:\n  proxy_header: X-Remote-User\n  trusted_proxies: [proxy.lan]\n")
    done = corral("check", "-c", str(path), timeout=60)
    assert done.returncode == 2 and "`proxy.lan` is not an address or a network" in done.stderr


def test_a_reading_that_keeps_failing_says_so_once_and_first(tmp_path: Path, console: Any) -> None:
    """Each failed reading appended its line to the last good reading's errors: the list grew for good (288 lines a
    day), and past the 20 the pages show, a new failure was not seen."""
    _record(tmp_path / "store" / "site" / ".runs", "2026-11-30_03-00-00")
    made, _ = console()
    made.index.read()
    made.index.last.errors = [f"storage local: job folder `j{n}`: cannot be listed" for n in range(25)]

    def broken() -> None:
        raise RuntimeError("a bug")

    made.index.read = broken
    for _ in range(3):
        made.read_once()
    errors = made.index.last.errors
    assert errors[0].startswith("reading failed: ") and "a bug" in errors[0]
    assert len(errors) == 26


def test_a_huge_login_body_is_refused_before_it_is_parsed(tmp_path: Path, console: Any) -> None:
    """50 MB of '&' posted to /login (no password needed) held the event loop, every page with it, for 50 s:
    python-multipart parses it there, and empty fields count against no limit."""
    import time

    _record(tmp_path / "store" / "site" / ".runs", "2026-11-30_03-00-00")
    _made, client = console(users={"ops": hash_password(PASSWORD)})
    form = {"content-type": "application/x-www-form-urlencoded"}
    with client:
        begun = time.monotonic()
        assert client.post("/login", content=b"&" * 5_000_000, headers=form).status_code == 413
        chunks = (b"&" * 1_000_000 for _ in range(5))  # no stated length: chunked
        assert client.post("/login", content=chunks, headers=form).status_code == 413
        assert time.monotonic() - begun < 3
        token = client.get("/login").text.split('name="token" value="', 1)[1].split('"', 1)[0]
        done = client.post("/login", data={"token": token, "user": "ops", "password": PASSWORD},
                           follow_redirects=False)
        assert done.status_code == 303
