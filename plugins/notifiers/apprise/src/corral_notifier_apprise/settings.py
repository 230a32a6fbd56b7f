"""The ``main:`` keys of the Apprise notifier; Apprise URLs carry tokens, so they are secrets."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr

from corral import MainOptions


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class AppriseSettings(MainOptions):
    apprise_urls: Annotated[list[SecretStr], BeforeValidator(_as_list)] = Field(
        default=[],
        description="Apprise service URLs (tgram://, slack://, discord://, matrix://, mailto://, json://...); "
        "never written to logs",
        json_schema_extra={"example": ["tgram://BOT_TOKEN/CHAT_ID", "discord://WEBHOOK_ID/WEBHOOK_TOKEN"]},
    )
    apprise_level: Literal["always", "errors"] = Field(
        default="always",
        description="`always`: after every run; `errors`: only when something failed",
        json_schema_extra={"example": "errors"},
    )
