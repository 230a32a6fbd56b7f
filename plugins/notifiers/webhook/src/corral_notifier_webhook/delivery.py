"""POSTs with the standard library, reported without the secret parts of the URL.

A webhook or ping URL often *is* the secret (Slack hooks, healthchecks UUIDs), so errors name only the scheme,
host and port. Credentials written in the URL (``https://user:pass@host/``) become a Basic auth header.

Redirects are never followed, as curl does without ``-L``: following one would send the path's token and the
``Authorization`` header to wherever the answer points, plain http included (urllib keeps every header), and a
303 would turn the report into a body-less GET that looks delivered. A redirect is a failure naming the new
address, so that the config gets the final URL.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING

from corral import CorralError, __version__

if TYPE_CHECKING:
    from urllib.request import OpenerDirector

USER_AGENT = f"corral/{__version__}"


class WebhookError(CorralError):
    """A POST failed; the text names the host and the cause, never the path, query or credentials."""


def where(url: str) -> str:
    """``https://host:port``, the part of a URL that is safe to log."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = parts.port
    except ValueError:  # not a number: whatever it is stays out of the message
        port = None
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}"


def with_path_suffix(url: str, suffix: str) -> str:
    """``https://hc-ping.com/UUID?rid=1`` + ``/start`` -> ``https://hc-ping.com/UUID/start?rid=1``."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + suffix))


def _opener() -> OpenerDirector:
    """urllib's usual opener, on which every 3xx answer is an HTTPError instead of a new request."""
    import urllib.request  # deferred: only a run that posts pays for http.client

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    return urllib.request.build_opener(NoRedirects)


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """POST ``body``; returns the HTTP status, raises :class:`WebhookError` for anything but 2xx."""
    import urllib.error
    import urllib.request

    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookError(f"`{where(url)}...` is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(f"`{parts.scheme or '?'}://...` is not an http(s) URL")
    all_headers = {"User-Agent": USER_AGENT, **headers}
    if parts.username is not None:
        pair = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        all_headers.setdefault("Authorization", "Basic " + base64.b64encode(pair.encode()).decode())
        netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        url = urllib.parse.urlunsplit(parts._replace(netloc=netloc + (f":{port}" if port else "")))
    request = urllib.request.Request(url, data=body, headers=all_headers, method="POST")
    try:
        with _opener().open(request, timeout=timeout) as response:
            response.read(65536)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        location = exc.headers.get("Location") if exc.headers else None
        if 300 <= exc.code < 400 and location:
            raise WebhookError(
                f"{where(url)} answered HTTP {exc.code} {exc.reason}, a redirect to "
                f"{where(urllib.parse.urljoin(url, location))}: not followed (credentials go to the configured "
                "address only); put the final URL in the config"
            ) from None
        raise WebhookError(f"{where(url)} answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise WebhookError(f"{where(url)}: no answer within {timeout:g} s") from None
        detail = getattr(reason, "strerror", None) or str(reason)
        raise WebhookError(f"cannot reach {where(url)}: {detail}") from None
    except TimeoutError:
        raise WebhookError(f"{where(url)}: no answer within {timeout:g} s") from None
    except OSError as exc:
        raise WebhookError(f"{where(url)}: {exc.strerror or type(exc).__name__}") from None
