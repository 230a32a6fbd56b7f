"""The SMTP keys this notifier adds to ``main:`` (nxs-backup's names); the recipients are core keys."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from corral import MainOptions


class EmailSettings(MainOptions):
    """How messages leave the server: an SMTP relay, or the local sendmail when ``smtp_server`` is empty."""

    smtp_server: str | None = Field(
        default=None,
        description="SMTP relay host; empty: hand messages to the local sendmail",
        json_schema_extra={"example": "smtp.example.com"},
    )
    smtp_port: int | None = Field(
        default=None, ge=1, le=65535,
        description="SMTP port; default 465 with smtp_ssl, 587 with smtp_tls, else 25",
        json_schema_extra={"example": 587},
    )
    smtp_ssl: bool = Field(
        default=False, description="connect over TLS from the start (SMTPS, usually port 465)",
        json_schema_extra={"example": False},
    )
    smtp_tls: bool = Field(
        default=False, description="upgrade the connection with STARTTLS (usually port 587)",
        json_schema_extra={"example": True},
    )
    smtp_user: str | None = Field(
        default=None, description="SMTP login; empty: no authentication",
        json_schema_extra={"example": "backup@example.com"},
    )
    smtp_password: SecretStr | None = Field(
        default=None, description="SMTP password (never written to logs)",
        json_schema_extra={"example": "app-password"},
    )
    smtp_timeout: float = Field(
        default=30, gt=0, description="seconds to wait for the SMTP server or sendmail",
        json_schema_extra={"example": 30},
    )
    sendmail_path: Path = Field(
        default=Path("/usr/sbin/sendmail"),
        description="sendmail-compatible program used when smtp_server is empty (called with -t -i)",
        json_schema_extra={"example": "/usr/sbin/sendmail"},
    )
