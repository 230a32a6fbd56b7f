"""`corral console` through its real app (Starlette's test client) over records that real `corral start` runs
wrote on a local storage: the fleet's order, access (login, CSRF, proxy header, Host), records that are not
corral's (broken, huge, hostile), incremental readings, and the refusals of a bad configuration."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from corral.config import load_config
from corral.testing.cli import CORRAL, corral
from corral_console.auth import hash_password
from corral_console.serve import build

PASSWORD = "correct horse battery"
SECRET = "s3cr3t-T0ken-for-the-console"


def _server(tmp_path: Path, name: str, store: Path, jobs: list[dict[str, Any]]) -> Path:
    """A simulated server: its own main file and tmp dir, the shared backup folder ``store``."""
    home = tmp_path / name
    (home / "tmp").mkdir(parents=True)
    for job in jobs:
        job.setdefault("storages", [{"storage": "local", "backup_dir": str(store), "store": {"days": 5}}])
    path = home / "corral.conf"
    path.write_text(yaml.safe_dump({"main": {"server_name": name, "general_path_to_all_tmp_dir": str(home / "tmp"),
                                             "coverage": False}, "jobs": jobs}))
    return path


def _console(tmp_path: Path, store: Path, **settings: Any) -> Path:
    path = tmp_path / "console.conf"
    console = {"cache_dir": str(tmp_path / "cache"), "storages": [{"storage": "local", "backup_dir": str(store)}],
               **settings}
    path.write_text(yaml.safe_dump({"main": {"general_path_to_all_tmp_dir": str(tmp_path / "ctmp")},
                                    "console": console}))
    return path


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two servers' real runs on one local storage: web-1 backs up two sites (ok), web-2's job fails."""
    tmp_path = tmp_path_factory.mktemp("fleet")
    store = tmp_path / "store"
    www = tmp_path / "www"
    for site in ("alpha", "beta"):
        (www / site).mkdir(parents=True)
        (www / site / "index.html").write_text(site * 1000)
    one = _server(tmp_path, "web-1", store, [
        {"job": "sites", "type": "desc_files", "sources": [{"target": [f"{www}/*/"], "gzip": True}]}])
    two = _server(tmp_path, "web-2", store, [
        {"job": "shop", "type": "desc_files", "sources": [{"target": [f"{tmp_path}/gone/"]}]}])
    for config, code in ((one, 0), (two, 1)):
        done = corral("start", "all", "-c", str(config))
        assert done.returncode == code, done.stderr
    return store


@pytest.fixture
def client(tmp_path: Path, fleet: Path) -> Iterator[TestClient]:
    config = load_config(_console(tmp_path, fleet), partial=True)
    console, app, _host, _port = build(config, None, [])
    console.index.read()
    with TestClient(app, base_url="http://127.0.0.1:8640") as test_client:
        test_client.console = console  # type: ignore[attr-defined]
        yield test_client
    console.index.close()


def _rows(html: str) -> list[str]:
    """The fleet table's rows as `status server job`."""
    import re

    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    found = []
    for row in re.findall(r"<tr class=\"(\w+)\">(.*?)</tr>", body, re.S):
        links = re.findall(r">([^<>]+)</a>", row[1])
        found.append(" ".join([row[0], *links[:2]]))
    return found


def test_the_fleet_lists_every_servers_jobs_failed_first(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert _rows(page.text) == ["failed web-2 shop", "ok web-1 sites"]
    assert "1 failed" in page.text and "1 ok" in page.text
    job = client.get("/job/web-2/shop")
    assert "Errors of the failed run" in job.text and "target matches no file or folder" in job.text
    ok = client.get("/job/web-1/sites")
    assert "alpha" in ok.text and "beta" in ok.text  # its backups per storage, by target
    run = client.get(job.text.split('href="/run/', 1)[1].split('"', 1)[0].join(["/run/", ""]))
    assert run.status_code == 200 and "target matches no file or folder" in run.text
    assert client.get("/server/web-1").status_code == 200
    assert client.get("/server/nobody").status_code == 404


def test_every_page_carries_a_strict_content_security_policy(client: TestClient) -> None:
    page = client.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script>" not in page.text and "style=" not in page.text  # nothing inline: the CSP would block it
    assert client.get("/static/console.js").status_code == 200


def test_a_host_name_that_is_not_the_consoles_is_refused_without_a_login(client: TestClient) -> None:
    """A DNS-rebinding page (evil.example resolving to 127.0.0.1) must not read a console that has no login."""
    assert client.get("/", headers={"host": "evil.example:8640"}).status_code == 400
    assert client.get("/", headers={"host": "localhost:8640"}).status_code == 200


def test_records_that_are_not_corrals_are_shown_as_such_never_rendered_as_html(tmp_path: Path, fleet: Path) -> None:
    store = tmp_path / "hostile"
    runs = store / "evil" / ".runs"
    runs.mkdir(parents=True)
    good = {"format": 1, "kind": "start", "server": "web-9", "job": "evil", "type": "desc_files",
            "stamp": "2026-11-30_03-00-00", "outcome": "failed", "targets": [{"target": "<b>x</b>"}],
            "errors": [f"<script>alert(1)</script> password {SECRET}"], "size": "not a number"}
    (runs / "2026-11-30_03-00-00.web-9.start.json").write_text(json.dumps(good))
    (runs / "2026-11-29_03-00-00.web-9.start.json").write_text("{not json")
    (runs / "2026-11-28_03-00-00.web-9.start.json").write_text(json.dumps({**good, "format": 99}))
    (runs / "2026-11-27_03-00-00.web-9.start.json").write_bytes(b" " * 300_000)
    (runs / "2026-11-26_03-00-00.web-9.start.json").symlink_to("/etc/passwd")
    (runs / "notes.txt").write_text("hello")
    path = tmp_path / "console.conf"
    path.write_text(yaml.safe_dump({"main": {"general_path_to_all_tmp_dir": str(tmp_path / "t")}, "console": {
        "cache_dir": str(tmp_path / "cache"), "storages": [{"storage": "local", "backup_dir": str(store)}]},
        "jobs": [{"job": "x", "type": "external", "dump_cmd": "true", "storages": [
            {"storage": "sftp", "enable": False, "backup_dir": "/b", "host": "h", "user": "u",
             "password": SECRET, "host_key_check": False}]}]}))
    console, app, _, _ = build(load_config(path, partial=True), None, [])
    console.index.read()
    with TestClient(app, base_url="http://127.0.0.1:8640") as client:
        job = client.get("/job/web-9/evil").text
        run = client.get("/run/web-9/evil/start/2026-11-30_03-00-00").text
    console.index.close()
    for page in (job, run):
        assert "<script>alert" not in page and "&lt;script&gt;" in page
        assert SECRET not in page and "*****" in page  # a secret of the console's own config, masked
    assert "not JSON" in job and "format 99" in job and "larger than 256 KiB" in job
    assert "root:" not in job and "2026-11-26" not in job  # the link is no record: never read
    assert "<b>x</b>" not in run


def test_readings_are_incremental_and_follow_retention(tmp_path: Path, fleet: Path) -> None:
    store = tmp_path / "store"
    runs = store / "job" / ".runs"
    runs.mkdir(parents=True)

    def record(day: int) -> Path:
        stamp = f"2026-11-{day:02d}_03-00-00"
        path = runs / f"{stamp}.web-5.start.json"
        path.write_text(json.dumps({"format": 1, "kind": "start", "server": "web-5", "job": "job", "stamp": stamp,
                                    "outcome": "ok", "size": day * 1000, "finished": f"2026-11-{day:02d}T03:00:09Z"}))
        return path

    paths = [record(day) for day in range(1, 26)]
    config = load_config(_console(tmp_path, store), partial=True)
    console, _app, _, _ = build(config, None, [])
    first = console.index.read()
    assert first.listed == 25 and first.fetched == 10  # the fleet needs the newest 10 (the size trend)
    assert console.index.read().fetched == 0  # nothing new: nothing fetched again
    record(26)
    paths[0].unlink()  # rotation removed the oldest
    again = console.index.read()
    assert again.fetched == 1 and again.listed == 25
    assert {s.stamp for s in console.index.summaries(job="job")} == {f"2026-11-{d:02d}_03-00-00" for d in range(2, 27)}
    cache = tmp_path / "cache"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) & 0o077 == 0 for f in cache.iterdir())
    console.index.close()


def test_a_job_without_a_success_is_read_back_until_its_last_success(tmp_path: Path, fleet: Path) -> None:
    store = tmp_path / "store"
    runs = store / "db" / ".runs"
    runs.mkdir(parents=True)
    for day in range(1, 31):
        stamp = f"2026-11-{day:02d}_03-00-00"
        (runs / f"{stamp}.web-6.start.json").write_text(json.dumps(
            {"format": 1, "kind": "start", "server": "web-6", "job": "db", "stamp": stamp, "size": 5,
             "outcome": "ok" if day == 3 else "failed", "finished": f"2026-11-{day:02d}T03:00:09Z"}))
    console, app, _, _ = build(load_config(_console(tmp_path, store), partial=True), None, [])
    console.index.read()
    with TestClient(app, base_url="http://127.0.0.1:8640") as client:
        page = client.get("/").text
    console.index.close()
    assert "2026-11-03 03:00 UTC" in page  # its last success, 27 runs back
    assert _rows(page) == ["failed web-6 db"]


def test_a_login_is_required_and_a_wrong_password_refused(tmp_path: Path, fleet: Path) -> None:
    config = load_config(_console(tmp_path, fleet, users={"ops": hash_password(PASSWORD)}), partial=True)
    console, app, _, _ = build(config, None, [])
    console.index.read()
    with TestClient(app, base_url="http://127.0.0.1:8640", follow_redirects=False) as client:
        assert client.get("/").headers["location"] == "/login"
        assert client.get("/job/web-2/shop").status_code == 303
        form = client.get("/login")
        token = form.text.split('name="token" value="', 1)[1].split('"', 1)[0]
        refused = client.post("/login", data={"user": "ops", "password": "wrong", "token": token})
        assert refused.status_code == 401 and "Wrong user name or password" in refused.text
        assert "web-2" not in refused.text
        assert client.post("/login", data={"user": "ops", "password": PASSWORD, "token": "forged"}).status_code == 403
        cross = client.post("/login", data={"user": "ops", "password": PASSWORD, "token": token},
                            headers={"origin": "https://evil.example"})
        assert cross.status_code == 403
        done = client.post("/login", data={"user": "ops", "password": PASSWORD, "token": token})
        assert done.status_code == 303 and "corral_session" in done.cookies
        cookie = done.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        page = client.get("/")
        assert page.status_code == 200 and "web-2" in page.text and "ops" in page.text
        csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
        assert client.post("/logout", data={"csrf": csrf}).status_code == 303
        assert client.get("/").status_code == 303  # logged out
    console.index.close()


def test_wrong_passwords_from_one_address_are_throttled(tmp_path: Path, fleet: Path) -> None:
    config = load_config(_console(tmp_path, fleet, users={"ops": hash_password(PASSWORD)}), partial=True)
    console, app, _, _ = build(config, None, [])
    with TestClient(app, base_url="http://127.0.0.1:8640", follow_redirects=False) as client:
        token = client.get("/login").text.split('name="token" value="', 1)[1].split('"', 1)[0]
        codes = [client.post("/login", data={"user": "ops", "password": f"guess{n}", "token": token}).status_code
                 for n in range(6)]
        assert codes == [401] * 5 + [429]
        # the right password waits too: a guesser cannot tell it found it
        assert client.post("/login", data={"user": "ops", "password": PASSWORD, "token": token}).status_code == 429
    console.index.close()


def test_an_unknown_user_costs_a_real_hash_check_and_checks_run_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown name is checked against a configured user's hash (bcrypt here: no cheaper stand-in tells names
    apart by timing), and a burst of logins checks one password at a time (argon2 holds 64 MiB per check)."""
    import threading
    import time

    import bcrypt

    import corral_console.auth as auth_module
    from corral_console.auth import Auth

    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    checked: list[str] = []
    running, most = 0, 0
    lock = threading.Lock()
    real = auth_module.password_matches

    def counting(stored: str, password: str) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            checked.append(stored)
        time.sleep(0.05)
        try:
            return real(stored, password)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(auth_module, "password_matches", counting)
    auth = Auth({"ops": hashed}, None, [], 12)
    assert auth.login("nobody", PASSWORD, "10.0.0.9") is None  # the right password of another user: no
    assert checked == [hashed]
    threads = [threading.Thread(target=auth.login, args=("ops", f"guess{n}", f"10.0.1.{n}")) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(checked) == 9 and most == 1
    assert auth.login("ops", PASSWORD, "10.0.0.9") is not None


def test_concurrent_guesses_from_one_address_are_counted_before_their_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Twenty guesses at once from one address: five are checked, the rest refused unchecked, the right password
    among them too (a limit counted only after each slow hash let every concurrent guess through)."""
    import threading
    import time

    import bcrypt

    import corral_console.auth as auth_module
    from corral_console.auth import Auth, Throttled

    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    real, checks = auth_module.password_matches, []

    def slow(stored: str, password: str) -> bool:
        checks.append(password)
        time.sleep(0.05)
        return real(stored, password)

    monkeypatch.setattr(auth_module, "password_matches", slow)
    auth = Auth({"ops": hashed}, None, [], 12)
    outcomes: list[str] = []

    def guess(password: str) -> None:
        try:
            outcomes.append("in" if auth.login("ops", password, "203.0.113.7") else "wrong")
        except Throttled:
            outcomes.append("throttled")

    threads = [threading.Thread(target=guess, args=(f"guess{n}" if n < 19 else PASSWORD,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(checks) == 5 and sorted(outcomes) == ["throttled"] * 15 + ["wrong"] * 5
    assert auth.login("ops", PASSWORD, "203.0.113.8") is not None  # another address is not held back


def test_a_login_flood_gets_503s_and_the_pages_go_on(tmp_path: Path, fleet: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Logins from many addresses at once: eight wait for their check, the others are told 503 at once, and a
    page asked meanwhile does not wait behind them."""
    import asyncio
    import time

    import httpx

    import corral_console.auth as auth_module

    real = auth_module.password_matches

    def slow(stored: str, password: str) -> bool:
        time.sleep(0.2)
        return real(stored, password)

    monkeypatch.setattr(auth_module, "password_matches", slow)
    config = load_config(_console(tmp_path, fleet, proxy_header=None, users={"ops": hash_password(PASSWORD)}),
                         partial=True)  # fmt: skip
    console, app, _, _ = build(config, None, [])
    console.index.read()

    async def attempt(n: int) -> int:
        transport = httpx.ASGITransport(app=app, client=(f"198.51.100.{n}", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8640") as client:
            form = await client.get("/login")
            token = form.text.split('name="token" value="', 1)[1].split('"', 1)[0]
            answer = await client.post("/login", data={"user": "ops", "password": f"guess{n}", "token": token})
            return answer.status_code

    async def page() -> float:
        await asyncio.sleep(0.3)  # the logins are queued by now
        transport = httpx.ASGITransport(app=app, client=("198.51.100.250", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8640") as client:
            started = time.monotonic()
            assert (await client.get("/login")).status_code == 200
            return time.monotonic() - started

    async def flood() -> tuple[list[int], float]:
        *codes, waited = await asyncio.gather(*(attempt(n) for n in range(20)), page())
        return codes, waited

    codes, waited = asyncio.run(flood())
    assert sorted(codes) == [401] * 8 + [503] * 12
    assert waited < 1.0  # eight checks of 0.2 s queued: a page behind them would wait 1.6 s
    console.index.close()


def test_behind_a_proxy_only_the_trusted_proxys_header_lets_in(tmp_path: Path, fleet: Path) -> None:
    config = load_config(_console(tmp_path, fleet, proxy_header="X-Remote-User", trusted_proxies=["127.0.0.1"]),
                         partial=True)  # fmt: skip
    console, app, _, _ = build(config, None, [])
    with TestClient(app, base_url="http://127.0.0.1:8640", client=("127.0.0.1", 5000)) as proxy:
        assert proxy.get("/").status_code == 403  # the proxy named nobody
        page = proxy.get("/", headers={"X-Remote-User": "alice"})
        assert page.status_code == 200 and "alice" in page.text
    with TestClient(app, base_url="http://127.0.0.1:8640", client=("10.0.0.9", 5000)) as direct:
        assert direct.get("/", headers={"X-Remote-User": "alice"}).status_code == 403
    console.index.close()


def test_a_public_listen_without_auth_is_refused_in_one_line(tmp_path: Path, fleet: Path) -> None:
    config = _console(tmp_path, fleet)
    done = corral("console", "-c", str(config), "--listen", "0.0.0.0:8640", timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "without `users` or `proxy_header`" in done.stderr
    assert "Traceback" not in done.stderr
    done = corral("console", "-c", str(config), "--storage", "nosuch", timeout=60)
    assert done.returncode == 2 and "no storage named `nosuch` (storages: local)" in done.stderr


def test_bad_console_settings_are_one_line_each_naming_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "console.conf"
    path.write_text("main: {}\njobs: []\nconsole:\n  listen: 127.0.0.1:99999\n  users: {ops: hunter2-plain}\n"
                    "  refres: 10\n")
    done = corral("check", "-c", str(path), timeout=60)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert f"{path}:4: console: `listen`: port 99999 is out of range" in lines[0]
    assert f"{path}:5: console: `users`: user `ops`: not an argon2 or bcrypt hash" in lines[1]
    assert "hunter2-plain" not in done.stderr
    assert f"{path}:6: console: unknown key `refres`" in lines[2]


def test_a_hash_pasted_with_a_stray_character_is_refused_by_check(tmp_path: Path) -> None:
    """A no-break space pasted after a good hash: refused by `corral check` (argon2 raised on every login
    checked against it: a 500 that told unknown user names apart)."""
    from corral_console.auth import password_matches

    good = hash_password(PASSWORD)
    path = tmp_path / "console.conf"
    path.write_text(yaml.safe_dump({"main": {}, "jobs": [], "console": {"users": {"ops": good + "\u00a0"}}},
                                   allow_unicode=True))  # fmt: skip
    done = corral("check", "-c", str(path), timeout=60)
    assert done.returncode == 2 and "console: `users`: user `ops`: not an argon2 or bcrypt hash" in done.stderr
    assert good not in done.stderr
    assert password_matches(good + "\u00a0", PASSWORD) is False  # no exception, should one get past the check
    path.write_text(yaml.safe_dump({"main": {}, "jobs": [], "console": {"users": {"ops": good}}}))
    assert corral("check", "-c", str(path), timeout=60).returncode == 0


def test_hash_password_makes_a_hash_the_console_accepts(tmp_path: Path) -> None:
    done = corral("console", "--hash-password", input=f"{PASSWORD}\n", timeout=60)
    assert done.returncode == 0, done.stderr
    hashed = done.stdout.strip()
    assert hashed.startswith("$argon2id$") and PASSWORD not in done.stdout
    from corral_console.auth import password_matches

    assert password_matches(hashed, PASSWORD) and not password_matches(hashed, PASSWORD + "x")
    assert corral("console", "--hash-password", input="short\n", timeout=60).returncode == 2


def test_the_cache_folder_must_be_private(tmp_path: Path, fleet: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    config = _console(tmp_path, fleet, cache_dir=str(shared / "cache"))
    done = corral("console", "-c", str(config), timeout=60)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "not safe" in done.stderr or "writable" in done.stderr


def test_a_job_folder_shared_by_two_servers_shows_each_its_own_targets(tmp_path: Path) -> None:
    store = tmp_path / "store"
    for server, site in (("web-1", "alpha"), ("web-2", "gamma")):
        (tmp_path / server / "www" / site).mkdir(parents=True)
        (tmp_path / server / "www" / site / "index.html").write_text(site)
        config = _server(tmp_path / "servers", server, store, [
            {"job": "www", "type": "desc_files", "sources": [{"target": [f"{tmp_path / server / 'www'}/*/"]}]}])
        assert corral("start", "all", "-c", str(config)).returncode == 0
    console, app, _, _ = build(load_config(_console(tmp_path, store), partial=True), None, [])
    console.index.read()
    with TestClient(app, base_url="http://127.0.0.1:8640") as client:
        page = client.get("/job/web-1/www").text
    console.index.close()
    backups = page.split("Backups per storage", 1)[1].split("<h2>Runs", 1)[0]
    assert "<td>alpha</td>" in backups and "<td>gamma</td>" not in backups
    assert "also holds 1 target(s) no record of web-1 names" in backups and "gamma" in backups


def test_a_record_the_storage_did_not_give_is_asked_again_not_marked_unreadable(
    tmp_path: Path, fleet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A storage that times out while records are fetched (fault injected into the read) is asked again at the next
    reading: the fleet must not show good records as unreadable for good."""
    from corral_console.index import Index

    config = load_config(_console(tmp_path, fleet), partial=True)
    console, app, _, _ = build(config, None, [])
    real = Index._cat
    monkeypatch.setattr(Index, "_cat", staticmethod(lambda fs, paths: ((p, TimeoutError("timed out")) for p in paths)))
    first = console.index.read()
    assert first.fetched == 0 and any("cannot be read now" in line for line in first.errors)
    monkeypatch.setattr(Index, "_cat", staticmethod(real))
    again = console.index.read()
    assert again.fetched == again.listed == 2 and again.errors == []
    with TestClient(app, base_url="http://127.0.0.1:8640") as client:
        assert _rows(client.get("/").text) == ["failed web-2 shop", "ok web-1 sites"]
    console.index.close()


def test_an_error_inside_the_web_server_is_one_masked_line_in_corrals_log(tmp_path: Path, fleet: Path) -> None:
    """uvicorn's own error report (a page that raised) goes through corral's log: one line, the secret masked,
    no traceback on stderr."""
    import socket
    import subprocess
    import sys

    config = tmp_path / "console.conf"
    config.write_text(yaml.safe_dump({"main": {"general_path_to_all_tmp_dir": str(tmp_path / "t")}, "console": {
        "cache_dir": str(tmp_path / "cache"), "storages": [{"storage": "local", "backup_dir": str(fleet)}]},
        "jobs": [{"job": "x", "type": "external", "dump_cmd": "true", "storages": [
            {"storage": "sftp", "enable": False, "backup_dir": "/b", "host": "h", "user": "u", "password": SECRET,
             "host_key_check": False}]}]}))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = f"""
import os, signal, sys, threading, time, urllib.request
from pathlib import Path
import corral_console.app as app
from corral import logs
from corral.config import load_config
from corral_console.serve import serve
def broken(self, request):
    raise ValueError("the page broke near {SECRET}")
app.Console.fleet = broken
config = load_config(Path({str(config)!r}), partial=True)
logs.setup(None, config.secrets)
def visit():
    time.sleep(1.5)
    try:
        urllib.request.urlopen("http://127.0.0.1:{port}/", timeout=10)
    except Exception as exc:
        print("visit:", exc)
    os.kill(os.getpid(), signal.SIGTERM)
threading.Thread(target=visit, daemon=True).start()
serve(config, "127.0.0.1:{port}", [])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "visit: HTTP Error 500" in done.stdout
    [line] = [line for line in done.stderr.splitlines() if "[ERROR]" in line]
    assert "console: Exception in ASGI application: ValueError: the page broke near *****" in line
    assert SECRET not in done.stderr and "Traceback" not in done.stderr


def test_sighup_reads_the_storages_now_and_each_reading_is_one_info_line(tmp_path: Path, fleet: Path) -> None:
    """The real `corral console` process: a reading at its start, one log line each; a record added later is on
    the fleet page after SIGHUP, long before `refresh`; SIGTERM still ends it with exit 0."""
    import re
    import signal
    import socket
    import subprocess
    import time
    import urllib.request

    store = tmp_path / "store"
    runs = store / "night" / ".runs"
    runs.mkdir(parents=True)

    def record(server: str) -> None:
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        stamp = now.strftime("%Y-%m-%d_%H-%M-%S")
        (runs / f"{stamp}.{server}.start.json").write_text(json.dumps({
            "format": 1, "kind": "start", "server": server, "job": "night", "stamp": stamp, "outcome": "ok",
            "size": 1000, "finished": now.strftime("%Y-%m-%dT%H:%M:%SZ")}))

    record("web-7")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = _console(tmp_path, store, refresh=3600, listen=f"127.0.0.1:{port}")
    logged = tmp_path / "console.log"  # its log: stderr (journald under systemd)
    with logged.open("w") as err:
        process = subprocess.Popen([*CORRAL, "console", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=err)

    def readings(count: int) -> list[str]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lines = re.findall(r".*console: read \d+ records.*", logged.read_text())
            if len(lines) >= count:
                return lines
            assert process.poll() is None, logged.read_text()
            time.sleep(0.2)
        pytest.fail(f"no reading #{count}: {logged.read_text()}")

    def page() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as answer:
            return answer.read().decode()

    try:
        [first] = readings(1)
        assert "[INFO]" in first and "read 1 records, 1 fetched, 1 job(s) in the fleet table" in first
        assert _rows(page()) == ["ok web-7 night"]
        record("web-8")
        process.send_signal(signal.SIGHUP)
        second = readings(2)[1]
        assert "read 2 records, 1 fetched, 2 job(s) in the fleet table" in second
        assert sorted(_rows(page())) == ["ok web-7 night", "ok web-8 night"]
        for _ in range(300):  # a burst (the handler must not take a lock it may hold when a second signal lands)
            process.send_signal(signal.SIGHUP)
        readings(3)
        assert sorted(_rows(page())) == ["ok web-7 night", "ok web-8 night"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0, logged.read_text()
    assert "Traceback" not in logged.read_text()
