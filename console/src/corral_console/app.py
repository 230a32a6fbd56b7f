"""The console's pages (Starlette, Jinja2 templates): the fleet, a server, a job, a run, and the login."""

from __future__ import annotations

import contextlib
import logging
import posixpath
import queue
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import anyio.to_thread
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corral import __version__
from corral.archive import own_backup
from corral.debugging import explain
from corral.run import human_size

from .auth import COOKIE, LOGIN_COOKIE, Auth, Throttled
from .fleet import Row, build, sparkline
from .index import Index

log = logging.getLogger("corral")
STATIC = Path(__file__).parent / "static"
LISTING_TTL = 60.0  # seconds a job folder's listing of archives is reused
FORM_BYTES = 8192  # the body of a login or logout form at most (a browser states its length)
ROWS = "<!-- corral: the fleet rows -->"  # where the fleet page's table bytes go
LOGINS_WAITING = 8  # logins waiting for their password check at most; more get a 503 at once
FRESH = 60.0  # seconds before the fleet table's ages are brought up to date (in the background)
HEADERS = [
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
     b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # no-referrer would make the login POST's Origin "null"
    (b"cache-control", b"no-store"),
]


@dataclass
class Table:
    """The fleet rows and their rendered table, as of one state of the index."""

    generation: int  # the index's, when it was built
    more: int  # the index's records fetched beyond what the fleet needs (job pages), when it was built
    made: float  # time.monotonic()
    rows: list[Row]
    html: tuple[bytes, ...]  # the rows' <tr>s by 500, UTF-8: each fleet page sends these bytes as they are
    counts: dict[str, int]


@dataclass
class Settings:
    """What the pages need of the ``console:`` section."""

    stale_hours: float
    refresh: float
    allowed_hosts: set[str] | None  # None: any Host header (a login protects the pages)
    mask: Callable[[str], str]
    secure_cookies: bool = False
    storages: list[str] = field(default_factory=list)


def _masked(value: Any, mask: Callable[[str], str]) -> Any:
    """Every text a template prints goes through the config's secrets mask; Markup was rendered (masked) here."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return mask(value)


def _age(hours: float | None) -> str:
    if hours is None:
        return "never"
    if hours < 1:
        return f"{int(hours * 60)} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} d"


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _size(size: Any) -> str:
    return human_size(size) if isinstance(size, int) and size >= 0 else ""


class HostAndHeaders:
    """Refuses a Host header that is not the console's (a DNS-rebinding page reading a console without a login)
    and adds the security headers to every answer."""

    def __init__(self, app: ASGIApp, allowed: set[str] | None) -> None:
        self.app, self.allowed = app, allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.allowed is not None:
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").strip().lower()
            name = host[1:].split("]", 1)[0] if host.startswith("[") else host.rsplit(":", 1)[0]
            if name not in self.allowed:
                response = PlainTextResponse("corral console: this host name is not the console's "
                                             "(console.hosts)\n", status_code=400)
                await response(scope, receive, self._with_headers(send))
                return
        await self.app(scope, receive, self._with_headers(send))

    @staticmethod
    def _with_headers(send: Send) -> Send:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *HEADERS]
            await send(message)

        return sending


class Console:
    """The pages, their cache, and the thread that reads the storages every ``refresh`` seconds."""

    def __init__(self, index: Index, auth: Auth, settings: Settings) -> None:
        self.index, self.auth, self.settings = index, auth, settings
        self.env = Environment(loader=PackageLoader("corral_console"), autoescape=select_autoescape(default=True),
                               finalize=lambda value: _masked(value, settings.mask))
        self.env.filters.update(size=_size, age=_age, when=_when, q=lambda v: quote(str(v), safe=""),
                                masked=lambda v: settings.mask(str(v)))  # fmt: skip
        self.env.globals.update(version=__version__, sparkline=sparkline)
        self._table: Table | None = None
        self._building = threading.Lock()  # one build of the table at a time
        self._rebuilding = False  # a background build is under way
        self._listings: dict[tuple[str, str], tuple[float, list[dict[str, Any]], str | None]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake: queue.SimpleQueue[bool] = queue.SimpleQueue()  # read_now() wakes the reader (lock-free)
        self._checks: anyio.CapacityLimiter | None = None
        self._logins_waiting = 0
        self.reader: threading.Thread | None = None

    # --------------------------------------------------------------------------------------- reading

    def start_reading(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                self.read_once()
                with contextlib.suppress(queue.Empty):
                    self._wake.get(timeout=self.settings.refresh)
                    while True:  # SIGHUPs sent during the reading: one more reading, not one each
                        self._wake.get_nowait()

        self.reader = threading.Thread(target=loop, name="corral-console-reader", daemon=True)
        self.reader.start()

    def read_now(self) -> None:
        """Have the reader read the storages now (SIGHUP) rather than at the end of its ``refresh`` wait. Safe in a
        signal handler: SimpleQueue.put takes no lock that the handler could interrupt itself holding."""
        self._wake.put(True)

    def read_once(self) -> None:
        try:
            done = self.index.read()
            rows = len(self.table().rows)  # built here, after the reading, so that no page waits for it
            log.info("console: read %d records, %d fetched, %d job(s) in the fleet table, in %.1f s%s",
                     done.listed, done.fetched, rows, time.monotonic() - done.begun,
                     f"; {len(done.errors)} storage or folder(s) could not be read" if done.errors else "")
        except Exception as exc:  # a bug must not end the readings; its line first (the pages show 20), once
            others = [line for line in self.index.last.errors if not line.startswith("reading failed: ")]
            self.index.last.errors = [f"reading failed: {explain(exc)}", *others]

    def stop(self) -> None:
        self._stop.set()
        self._wake.put(True)

    def rows(self) -> list[Row]:
        return self.table().rows

    def table(self) -> Table:
        """The fleet table: built at once when a reading changed the index (the reader builds it right after its
        reading), in the background when only its ages are older than FRESH or a job page read more records:
        meanwhile the pages show the one built before (10,000 rows take seconds to build)."""
        with self._lock:
            current = self._table
            if current is not None and current.generation == self.index.generation:
                if not self._rebuilding and (current.more != self.index.more
                                             or time.monotonic() - current.made > FRESH):  # fmt: skip
                    self._rebuilding = True
                    threading.Thread(target=self._rebuild, name="corral-console-table", daemon=True).start()
                return current
        with self._building:
            current = self._table
            if current is None or current.generation != self.index.generation:
                current = self._build()
            return current

    def _rebuild(self) -> None:
        try:
            with self._building:
                self._build()
        except Exception as exc:  # the old table stays; the next page tries again
            self.index.last.errors.append(f"fleet table: {explain(exc)}")
        finally:
            self._rebuilding = False

    def _build(self) -> Table:
        generation, more = self.index.generation, self.index.more  # before: a reading meanwhile makes it stale
        rows = build(self.index.fleet_rows(), self.index.listed_names(), datetime.now(UTC), self.settings.stale_hours)
        template = self.env.get_template("_fleet_rows.html")  # by 500 rows: one render of 10,000 held ~25 MB
        html = tuple(template.render(rows=rows[at : at + 500]).encode() for at in range(0, len(rows), 500))
        counts = {status: sum(1 for row in rows if row.status == status) for status in ("failed", "stale", "ok")}
        table = Table(generation, more, time.monotonic(), rows, html, counts)
        with self._lock:
            self._table = table
        return table

    # ----------------------------------------------------------------------------------------- pages

    def page(self, request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        return HTMLResponse(self._render(request, template, **values), status_code=status)

    def _render(self, request: Request, template: str, **values: Any) -> str:
        session = request.scope.get("corral_session")
        return self.env.get_template(template).render(
            user=request.scope.get("corral_user"), csrf=session.csrf if session else "", mode=self.auth.mode,
            reading=self.index.last, records=self.index.count(), **values)  # fmt: skip

    def fleet(self, request: Request) -> Response:
        """The page around the table's bytes, sent as they are (7.6 MB at 500 x 20: no copy per request)."""
        table = self.table()
        head, tail = self._render(request, "fleet.html", table=Markup(ROWS), counts=table.counts,
                                  total=len(table.rows), stale_hours=self.settings.stale_hours).split(ROWS, 1)
        parts = (head.encode(), *table.html, tail.encode())

        async def body() -> AsyncIterator[bytes]:  # async: an iterator would take a worker thread per part
            for part in parts:
                yield part

        return StreamingResponse(body(), media_type="text/html; charset=utf-8",
                                 headers={"content-length": str(sum(len(part) for part in parts))})

    def server(self, request: Request) -> Response:
        name = request.path_params["server"]
        rows = [row for row in self.rows() if row.server == name]
        if not rows:
            return self.page(request, "missing.html", status=404, what=f"server {name}")
        return self.page(request, "server.html", server=name, rows=rows, stale_hours=self.settings.stale_hours)

    def job(self, request: Request) -> Response:
        server, job = request.path_params["server"], request.path_params["job"]
        self.index.fetch_job(server, job)
        runs = self.index.summaries(server=server, job=job)
        if not runs:
            return self.page(request, "missing.html", status=404, what=f"job {job} of server {server}")
        row = next((r for r in self.rows() if r.server == server and r.job == job), None)
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for run in runs:
            entry = merged.setdefault((run.kind, run.stamp), {"kind": run.kind, "stamp": run.stamp, "outcome": "",
                                                              "size": run.size, "finished": run.finished,
                                                              "storages": [], "problems": []})  # fmt: skip
            entry["storages"].append(run.source)
            if run.outcome and entry["outcome"] in ("", "unreadable"):
                entry["outcome"] = run.outcome
            if run.problem:
                entry["problems"].append(f"storage {run.source}: {run.problem}")
        failed = next((e for e in merged.values() if e["kind"] == "start" and e["outcome"] == "failed"), None)
        errors = self._errors(server, job, failed) if failed else []
        sources = sorted({run.source for run in runs})
        backups = {label: self.backups(label, job) for label in sources}
        mine = self._targets(server, job, [e for e in merged.values() if e["kind"] == "start"])
        for listing in backups.values():  # servers sharing a job folder: another's targets are set apart
            if mine is not None:
                listing["others"] = sorted(t for t in listing["targets"] if t not in mine)
                listing["targets"] = {t: v for t, v in listing["targets"].items() if t in mine}
        return self.page(request, "job.html", server=server, job=job, row=row, runs=list(merged.values()),
                         failed=failed, errors=errors, backups=backups)

    def _targets(self, server: str, job: str, starts: list[dict[str, Any]]) -> set[str] | None:
        """The targets this server's start records name (the newest 10 runs), or None when a record leaves some
        out or none could be read: then every archive of the folder is shown."""
        names: set[str] = set()
        for run in starts[:10]:
            found, _ = self.index.body(server, job, "start", run["stamp"])
            if not found:
                continue
            record = found[0][1]
            if record.get("targets_left_out") or not isinstance(record.get("targets"), list):
                return None
            names.update(str(t.get("target")) for t in record["targets"] if isinstance(t, dict))
        return names or None

    def _errors(self, server: str, job: str, run: dict[str, Any]) -> list[str]:
        found, _ = self.index.body(server, job, run["kind"], run["stamp"])
        return _record_view(found[0][1])["errors"][:50] if found else []  # checked: `"errors": 5` was a 500

    def run(self, request: Request) -> Response:
        p = request.path_params
        found, problems = self.index.body(p["server"], p["job"], p["kind"], p["stamp"])
        if not found and not problems:
            self.index.fetch_job(p["server"], p["job"])
            found, problems = self.index.body(p["server"], p["job"], p["kind"], p["stamp"])
        if not found and not problems:
            return self.page(request, "missing.html", status=404, what=f"run {p['stamp']} of job {p['job']}")
        return self.page(request, "run.html", server=p["server"], job=p["job"], kind=p["kind"], stamp=p["stamp"],
                         copies=found, problems=problems, record=found[0][1] if found else {},
                         view=_record_view(found[0][1]) if found else {})

    def backups(self, label: str, job: str) -> dict[str, Any]:
        """The archives of a job folder on one storage, per target (listed at most once a minute)."""
        cached = self._listings.get((label, job))
        if cached is None or time.monotonic() - cached[0] > LISTING_TTL:
            from corral.plugins import load_driver

            source = self.index.sources[label]
            root = posixpath.join(source.config.backup_dir, job)
            try:
                driver = load_driver("storage", source.config.name)
                files = driver.hook.corral_storage_list(fs=self.index.filesystem(label), root=root)
                archives = []
                for remote in files:
                    backup = own_backup(remote, root, None)
                    if backup is not None:
                        archives.append({"target": backup.target, "made": backup.made, "size": remote.size,
                                         "name": posixpath.relpath(remote.path, root)})
                cached = (time.monotonic(), archives, None)
            except Exception as exc:
                cached = (time.monotonic(), [], f"cannot be listed: {explain(exc)}")
            if len(self._listings) > 1000:
                self._listings.clear()
            self._listings[(label, job)] = cached
        _, archives, error = cached
        targets: dict[str, dict[str, Any]] = {}
        for archive in sorted(archives, key=lambda a: a["made"], reverse=True):
            entry = targets.setdefault(archive["target"], {"count": 0, "size": 0, "newest": archive["made"],
                                                           "oldest": archive["made"], "recent": []})  # fmt: skip
            entry["count"] += 1
            entry["size"] += archive["size"]
            entry["oldest"] = archive["made"]
            if len(entry["recent"]) < 5:
                entry["recent"].append(archive)
        return {"error": error, "targets": dict(sorted(targets.items()))}

    # ----------------------------------------------------------------------------------------- login

    def login_form(self, request: Request, status: int = 200, message: str = "") -> Response:
        browser = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        response = self.page(request, "login.html", status=status, token=self.auth.login_token(browser),
                             message=message)
        response.set_cookie(LOGIN_COOKIE, browser, httponly=True, samesite="strict",
                            secure=self.settings.secure_cookies, max_age=3600)
        return response

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return self.login_form(request)
        if not _same_origin(request):
            return PlainTextResponse("corral console: cross-site request refused\n", status_code=403)
        form = await _small_form(request)
        if form is None:
            return PlainTextResponse("corral console: a form of at most 8 KiB, with its length\n", status_code=413)
        address = request.client.host if request.client else "?"
        if not self.auth.login_token_ok(request.cookies.get(LOGIN_COOKIE), str(form.get("token", ""))):
            return self.login_form(request, 403, "The form expired; log in again.")
        if self.auth.throttled(address):
            return self.login_form(request, 429, "Too many wrong passwords: wait a few minutes.")
        if self._logins_waiting >= LOGINS_WAITING:  # a flood: said at once, not queued behind the others' hashes
            return self.login_form(request, 503, "Too many logins at once: try again in a moment.")
        if self._checks is None:
            self._checks = anyio.CapacityLimiter(1)  # one hash at a time (argon2: 64 MiB each); made in the loop
        self._logins_waiting += 1
        try:  # waiting for its turn holds no worker thread: the pages go on meanwhile
            token = await anyio.to_thread.run_sync(self.auth.login, str(form.get("user", ""))[:64],
                                                   str(form.get("password", ""))[:1024], address,
                                                   limiter=self._checks)  # fmt: skip
        except Throttled:
            return self.login_form(request, 429, "Too many wrong passwords: wait a few minutes.")
        finally:
            self._logins_waiting -= 1
        if token is None:
            return self.login_form(request, 401, "Wrong user name or password.")
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=int(self.auth.lifetime),
                            secure=self.settings.secure_cookies or _over_https(request))
        response.delete_cookie(LOGIN_COOKIE)
        return response

    async def logout(self, request: Request) -> Response:
        session = request.scope.get("corral_session")
        form = await _small_form(request)
        if form is None or not _same_origin(request) or session is None or not secrets.compare_digest(
                str(form.get("csrf", "")), session.csrf):  # fmt: skip
            return PlainTextResponse("corral console: cross-site request refused\n", status_code=403)
        self.auth.logout(request.cookies.get(COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response


async def _small_form(request: Request) -> Any:
    """The posted form (Starlette's FormData), or None when its body is over FORM_BYTES or of no stated length:
    python-multipart parses in the event loop, a microsecond a byte, and a body of '&' makes no field to count
    (50 MB held every page for 50 s, before any password)."""
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > FORM_BYTES:
        return None
    return await request.form(max_files=0, max_fields=5, max_part_size=4096)


def _same_origin(request: Request) -> bool:
    """A POST's Origin (or Referer) names this console, when the browser sends one."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True  # not a browser, or one that sends neither: the CSRF token decides
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1].split("/", 1)[0] == host


def _over_https(request: Request) -> bool:
    """Whether the browser reached the console over HTTPS (a TLS proxy in front): its form was posted from an
    https:// page. Its session cookie is then Secure, never sent to an http:// page of the same host."""
    origin = request.headers.get("origin") or request.headers.get("referer") or ""
    return request.url.scheme == "https" or origin.lower().startswith("https://")


def _record_view(record: dict[str, Any]) -> dict[str, Any]:
    """The parts of a record the run page shows, each checked for its type (records are untrusted)."""

    def lines(value: Any) -> list[str]:
        return [str(item) for item in value][:100] if isinstance(value, list) else []

    def dicts(value: Any) -> list[dict[str, Any]]:
        return [item for item in value if isinstance(item, dict)][:200] if isinstance(value, list) else []

    return {"errors": lines(record.get("errors")), "warnings": lines(record.get("warnings")),
            "targets": dicts(record.get("targets")), "storages": dicts(record.get("storages")),
            "plugins": record.get("plugins") if isinstance(record.get("plugins"), dict) else {},
            "left_out": record.get("targets_left_out") if isinstance(record.get("targets_left_out"), int) else 0}


class Gate:
    """Lets a request through when its user is known: a session (``users``), a trusted proxy's header
    (``proxy_header``), or anyone (no users: only this machine can reach the console)."""

    OPEN = ("/login", "/static/")

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app, self.auth = app, auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if self.auth.mode == "proxy":
            user = self.auth.proxy_user(request.client.host if request.client else None, request.headers.items())
            if user is None:
                await PlainTextResponse("corral console: only through the authenticating proxy\n",
                                        status_code=403)(scope, receive, send)
                return
            scope["corral_user"] = user
        elif self.auth.mode == "users":
            session = self.auth.session(request.cookies.get(COOKIE))
            if session is not None:
                scope["corral_user"], scope["corral_session"] = session.user, session
            elif not scope["path"].startswith(self.OPEN):
                response: Response = (RedirectResponse("/login", status_code=303) if scope["method"] == "GET"
                                      else PlainTextResponse("corral console: log in first\n", status_code=403))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def make_app(console: Console) -> ASGIApp:
    routes = [
        Route("/", console.fleet),
        Route("/server/{server}", console.server),
        Route("/job/{server}/{job}", console.job),
        Route("/run/{server}/{job}/{kind:str}/{stamp}", console.run),
        Route("/login", console.login, methods=["GET", "POST"]),
        Route("/logout", console.logout, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes)
    return HostAndHeaders(Gate(app, console.auth), console.settings.allowed_hosts)
