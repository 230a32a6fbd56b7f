"""Chat and push notifications through Apprise: one URL per service, no hand-written client per service.

Apprise is imported only when ``apprise_urls`` is set: it loads some 190 service plugins, which a run that does
not use them should not pay for. Each URL is notified on its own so that a failing service is named (by its
position and kind, never its URL) while the others still get the message.
"""

from __future__ import annotations

import contextlib
import logging
import re
import urllib.parse
from collections.abc import Iterator

from pydantic import BaseModel, SecretStr

from corral import CorralError, RunContext, RunResult, hookimpl
from corral.masking import Masker
from corral_notifier_apprise.report import body, title
from corral_notifier_apprise.settings import AppriseSettings

__all__ = ["AppriseError", "AppriseNotifier", "AppriseSettings"]


class AppriseError(CorralError):
    """Some services could not be notified; the text says which and why, without their URLs."""


class _Capture(logging.Handler):
    """Apprise explains failures only in its log; keep its warnings (and out of stderr)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _apprise_log() -> Iterator[_Capture]:
    logger = logging.getLogger("apprise")
    capture = _Capture()
    propagate = logger.propagate
    logger.addHandler(capture)
    logger.propagate = False
    try:
        yield capture
    finally:
        logger.removeHandler(capture)
        logger.propagate = propagate


def secret_parts(url: str) -> list[str]:
    """Pieces of an Apprise URL that may be tokens, as written and unquoted.

    The password whatever its length; of the rest, pieces of 6 characters or more: the user, every part of a
    dotless host (``tgram://ID:TOKEN/``, ``discord://WEBHOOK_ID/...``: the "host" is a credential, and both halves
    of ``ID:TOKEN``), path segments, query values and the fragment.
    """
    parts = urllib.parse.urlsplit(url)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    pieces = [user, *parts.path.split("/"), *(v for _, v in urllib.parse.parse_qsl(parts.query)), parts.fragment]
    if "." not in hostport and not hostport.startswith("["):  # an IPv6 literal is an address, not a token
        pieces += hostport.split(":")
    found = {piece for piece in pieces if len(piece) >= 6} | ({password} if password else set())
    return sorted(found | {urllib.parse.unquote(piece) for piece in found}, key=len, reverse=True)


def scrub(text: str, urls: list[str]) -> str:
    """``text`` on one line, without the URLs or any of their secret parts."""
    return " ".join(Masker([piece for url in urls for piece in [url, *secret_parts(url)]])(text).split())


def scheme(url: str) -> str:
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", url)
    return match.group(1) if match else "?"


class AppriseNotifier:
    @hookimpl
    def corral_main_schema(self) -> type[BaseModel]:
        return AppriseSettings

    @hookimpl
    def corral_run_finished(self, run: RunContext, result: RunResult) -> None:
        main = run.main
        if not main.apprise_urls or (main.apprise_level == "errors" and result.ok):
            return
        failures = notify(main.apprise_urls, title(main.server_name, result), body(result), result.ok)
        delivered = len(main.apprise_urls) - len(failures)
        if delivered:
            run.log.info("apprise: notified %d service(s)", delivered)
        if failures:
            raise AppriseError("; ".join(failures))


def notify(secrets: list[SecretStr], subject: str, text: str, ok: bool) -> list[str]:
    """Send to every URL; returns one line per failed service."""
    import apprise  # deferred: see the module docstring

    urls = [secret.get_secret_value() for secret in secrets]
    kind = apprise.NotifyType.SUCCESS if ok else apprise.NotifyType.FAILURE
    failures = []
    for index, url in enumerate(urls):
        label = f"apprise_urls[{index}]"
        with _apprise_log() as log:
            services = apprise.Apprise()
            if not services.add(url) or len(services) == 0:
                failures.append(f"{label}: Apprise does not understand `{scheme(url)}://...` URLs like this one")
                continue
            service = services[0]
            label += f" ({service.service_name})"
            try:
                sent = service.notify(body=text, title=subject, notify_type=kind)
            except Exception as exc:  # a service plugin's bug must not hide the other services' failures
                sent = False
                log.messages.append(f"{type(exc).__name__}: {exc}")
        if not sent:
            reason = scrub(log.messages[-1], urls) if log.messages else "failed (no reason given)"
            failures.append(f"{label}: {reason}")
    return failures
