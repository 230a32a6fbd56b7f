"""``corral console``: check the settings, open the cache, read the storages in the background, serve."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from corral.config import Config
from corral.config.models import ConsoleCore, StorageConfig, split_listen
from corral.errors import ConfigError
from corral.masking import Masker
from corral.workarea import private_dir

from .app import Console, Settings, make_app
from .auth import Auth, is_loopback
from .index import Index, Source

log = logging.getLogger("corral")


class _ToCorralLog(logging.Handler):
    """uvicorn's warnings and errors into corral's log: one line, masked like corral's own (its default handler
    printed tracebacks on stderr, past the secrets' mask)."""

    def emit(self, record: logging.LogRecord) -> None:
        from corral.debugging import explain

        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        text = (text.strip().splitlines() or [record.levelname])[0]
        if record.exc_info and record.exc_info[1] is not None:
            text = f"{text}: {explain(record.exc_info[1])}"
        log.log(record.levelno, "console: %s", text)


def _uvicorn_logs() -> None:
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = [_ToCorralLog(logging.WARNING)] if name == "uvicorn" else []
        logger.propagate = name != "uvicorn"


def _labelled(storages: list[StorageConfig]) -> list[Source]:
    seen: dict[str, int] = {}
    sources = []
    for storage in storages:
        seen[storage.name] = seen.get(storage.name, 0) + 1
        label = storage.name if seen[storage.name] == 1 else f"{storage.name}#{seen[storage.name]}"
        sources.append(Source(label, storage))
    return sources


def _identity(storage: StorageConfig) -> str:
    options = storage.options.model_dump(mode="json") if hasattr(storage.options, "model_dump") else {}
    return json.dumps([storage.name, storage.backup_dir.rstrip("/"), options], sort_keys=True, default=str)


def sources_of(config: Config, wanted: list[str]) -> list[Source]:
    """The storages to read: ``console.storages``, else every distinct enabled storage of the jobs; with
    ``wanted``, those whose label or kind is named. A name that matches none is a one-line error."""
    where = f"{config.path}"
    if config.console is not None and config.console.storages:
        sources = _labelled([s for s in config.console.storages if s.enable])
        where = f"{config.console.file}:{config.console.line}: console.storages"
    else:
        distinct: dict[str, StorageConfig] = {}
        for job in config.jobs:
            for storage in job.storages:
                if storage.enable:
                    distinct.setdefault(_identity(storage), storage)
        sources = _labelled(list(distinct.values()))
    if wanted:
        unknown = [name for name in wanted if not any(name in (s.label, s.config.name) for s in sources)]
        if unknown:
            known = ", ".join(s.label for s in sources) or "none"
            raise ConfigError([f"{where}: no storage named `{unknown[0]}` (storages: {known})"])
        sources = [s for s in sources if s.label in wanted or s.config.name in wanted]
    if not sources:
        raise ConfigError([f"{where}: no storage to read the run records from: add `console.storages` or a job"])
    return sources


def settings_of(config: Config, listen: str | None) -> tuple[ConsoleCore, str, int]:
    settings = config.console.settings if config.console is not None else ConsoleCore()
    where = f"{config.console.file}:{config.console.line}: console" if config.console else f"{config.path}"
    try:
        host, port = split_listen(listen or settings.listen)
    except ValueError as exc:
        raise ConfigError([f"--listen: {exc}"]) from None
    has_auth = bool(settings.users or settings.proxy_header)
    if not has_auth and not is_loopback(host):
        raise ConfigError([f"{where}: listening on {host} without `users` or `proxy_header` would show the fleet "
                           "to anyone who reaches this address; add users (corral console --hash-password) or "
                           "listen on 127.0.0.1"])
    if settings.users and settings.proxy_header:
        raise ConfigError([f"{where}: give `users` or `proxy_header`, not both"])
    return settings, host, port


def build(config: Config, listen: str | None, wanted: list[str]) -> tuple[Console, Any, str, int]:
    """The console (not yet reading) and its ASGI app, from a loaded configuration."""
    settings, host, port = settings_of(config, listen)
    sources = sources_of(config, wanted)
    cache_dir = private_dir(settings.cache_dir, "console cache folder")
    key = hashlib.sha256("\n".join(_identity(s.config) for s in sources).encode()).hexdigest()[:16]
    index = Index(sources, Path(cache_dir) / f"records-{key}.sqlite")
    users = {name: hashed.get_secret_value() for name, hashed in settings.users.items()}
    auth = Auth(users, settings.proxy_header, settings.trusted_proxies, settings.session_hours)
    allowed: set[str] | None = None
    if auth.mode == "none" or settings.hosts or (auth.mode == "proxy" and auth.trusts_this_machine()):
        allowed = {host.lower().strip("[]"), "localhost", "127.0.0.1", "::1", *(h.lower() for h in settings.hosts)}
    console = Console(index, auth, Settings(stale_hours=settings.stale_hours, refresh=settings.refresh,
                                            allowed_hosts=allowed, mask=Masker(config.secrets),
                                            storages=[s.label for s in sources]))  # fmt: skip
    if auth.mode == "users" and not is_loopback(host):
        log.warning("console: passwords reach %s in clear HTTP: put a TLS reverse proxy in front (docs/console.md)",
                    host)
    return console, make_app(console), host, port


def serve(config: Config, listen: str | None, wanted: list[str]) -> None:
    """Serve until SIGINT or SIGTERM."""
    import signal
    import socket

    import uvicorn

    console, app, host, port = build(config, listen, wanted)
    signal.signal(signal.SIGHUP, lambda *_: console.read_now())  # `systemctl reload`: read the storages now
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))  # here, so that a taken port is corral's one-line error, not uvicorn's exit
    except OSError:
        sock.close()
        console.index.close()
        raise
    console.start_reading()
    log.info("console: serving http://%s:%d/ from %s", host if ":" not in host else f"[{host}]", port,
             ", ".join(console.settings.storages))
    _uvicorn_logs()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                                           server_header=False, proxy_headers=False, timeout_graceful_shutdown=3,
                                           lifespan="off"))  # fmt: skip
    for signum in (signal.SIGINT, signal.SIGTERM):  # uvicorn raises the signal again once it has shut down:
        signal.signal(signum, lambda *_: None)  # here it then ends the run, and the cache is closed orderly
    try:
        server.run(sockets=[sock])
        log.info("console: stopped")
    finally:
        console.stop()
        console.index.close()
