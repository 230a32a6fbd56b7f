"""The ``main:`` keys of the webhook notifier. URLs and header values are secrets: tokens live in them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr


class Header(BaseModel):
    """One HTTP header; the value is secret (``Authorization: Bearer ...``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
    value: SecretStr


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _headers(value: Any) -> Any:
    """YAML writes headers as a mapping (``Authorization: Bearer x``); each becomes a :class:`Header`."""
    if isinstance(value, dict):
        return [{"name": name, "value": str(item)} for name, item in value.items()]
    return value


class WebhookSettings(BaseModel):
    webhook_urls: Annotated[list[SecretStr], BeforeValidator(_as_list)] = Field(
        default_factory=list,
        description="URLs that receive the run's report as a JSON POST (never written to logs)",
        json_schema_extra={"example": ["https://hooks.example.com/corral/T0KEN"]},
    )
    webhook_headers: Annotated[list[Header], BeforeValidator(_headers)] = Field(
        default_factory=list,
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
        description="`always`: after every run; `errors`: only when something failed",
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
