"""The ``main:`` keys of the webhook notifier. URLs and header values are secrets: tokens live in them."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr

from corral import MainOptions

TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")  # RFC 9110: what a header name may contain


def _header_name(name: str) -> str:
    if not TOKEN.fullmatch(name):
        raise ValueError("not an HTTP header name: use letters, digits and !#$%&'*+-.^_`|~ only (no spaces)")
    return name


HeaderName = Annotated[str, AfterValidator(_header_name)]


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _header_values(value: Any) -> Any:
    """YAML reads ``X-Count: 3`` as a number; a header value is text."""
    if isinstance(value, dict):
        return {name: str(item) if isinstance(item, int | float) else item for name, item in value.items()}
    return value


class WebhookSettings(MainOptions):
    webhook_urls: Annotated[list[SecretStr], BeforeValidator(_as_list)] = Field(
        default=[],
        description="URLs that receive the run's report as a JSON POST (never written to logs)",
        json_schema_extra={"example": ["https://hooks.example.com/corral/T0KEN"]},
    )
    webhook_headers: Annotated[dict[HeaderName, SecretStr], BeforeValidator(_header_values)] = Field(
        default={},
        description="extra HTTP headers of every webhook, as a mapping (values never written to logs)",
        json_schema_extra={"example": {"Authorization": "Bearer T0KEN"}},
    )
    webhook_template: dict[str, Any] | list[Any] | None = Field(
        default=None,
        description="JSON body to send instead of the full report; strings may use $server, $status, $ok, "
        "$summary, $text, $started, $seconds, $failed_jobs, $errors, $jobs (a string that is only `$jobs` "
        "becomes the JSON value itself)",
        json_schema_extra={"example": {"text": "$summary"}},
    )
    webhook_level: Literal["always", "errors"] = Field(
        default="always",
        description="`always`: after every run; `errors`: only when something failed or coverage found something no "
        "job backs up",
        json_schema_extra={"example": "always"},
    )
    webhook_timeout: float = Field(
        default=10, gt=0, description="seconds to wait for each webhook and ping", json_schema_extra={"example": 10}
    )
    healthcheck_url: SecretStr | None = Field(
        default=None,
        description="dead-man ping, healthchecks.io-style: URL/start when a run starts, URL when it succeeded, "
        "URL/fail when it failed; the service alerts you when pings stop",
        json_schema_extra={"example": "https://hc-ping.com/your-uuid"},
    )
