"""The keys of a ``postgresql`` / ``postgresql_hot`` source, in the article's layout (``connect:``, ``target:``...)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from corral import CompressedSource

Codec = Literal["none", "gzip", "zstd"]


class Connect(BaseModel):
    """How to reach the server; unset keys fall back to libpq's defaults (local socket, port 5432)."""

    model_config = ConfigDict(extra="forbid")

    db_host: str | None = Field(
        default=None, description="server host name or address (or use `socket`)",
        json_schema_extra={"example": "127.0.0.1"},
    )
    db_port: int | None = Field(
        default=None, ge=1, le=65535, description="server port (default 5432)", json_schema_extra={"example": 5432}
    )
    socket: str | None = Field(
        default=None, description="Unix socket directory, or its `.s.PGSQL.PORT` file, instead of db_host",
        json_schema_extra={"example": ""},
    )
    db_user: str | None = Field(
        default=None, description="role to connect as (needs to read every dumped database)",
        json_schema_extra={"example": "postgres"},
    )
    db_password: SecretStr | None = Field(
        default=None, description="password; handed to the tools in a 0600 pgpass file, never on a command line",
        json_schema_extra={"example": ""},
    )
    auth_file: Path | None = Field(
        default=None, description="a pgpass file (host:port:database:user:password, mode 0600) instead of db_password",
        json_schema_extra={"example": ""},
    )

    @model_validator(mode="after")
    def _consistent(self) -> Connect:
        if self.db_host and self.socket:
            raise ValueError("give either `db_host` or `socket`, not both")
        if self.db_password is not None and self.auth_file is not None:
            raise ValueError("give either `db_password` or `auth_file`, not both")
        if self.db_password is not None and any(c in self.db_password.get_secret_value() for c in "\r\n\0"):
            raise ValueError("`db_password` cannot contain a line break or NUL (a pgpass file cannot hold it)")
        return self


def _connect() -> Any:
    return Field(default_factory=Connect, description="connection to the server")


def _splittable(value: str) -> str:
    try:
        shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"cannot split into arguments: {exc}") from None
    return value


class _Common(CompressedSource):
    """Checks and helpers both job types share. The fields are declared by each type, in the article's order
    (pydantic puts a base class's fields first)."""

    _keys_check = field_validator("extra_keys", check_fields=False)(_splittable)

    @property
    def extra_args(self) -> list[str]:
        return shlex.split(getattr(self, "extra_keys", ""))


class DumpSource(_Common):
    """One server of a ``postgresql`` job: a pg_dump archive per database, plus the cluster's globals."""

    template_order = ('connect', 'target', 'excludes', 'gzip', 'compression')  # the article's order

    connect: Connect = _connect()
    target: list[str] = Field(
        default_factory=lambda: ["all"], min_length=1,
        description="database names, or `all`: every database that accepts connections, minus excludes",
        json_schema_extra={"example": ["all"]},
    )
    excludes: list[str] = Field(
        default_factory=lambda: ["postgres"],
        description="databases `all` leaves out (templates are never part of `all`)",
        json_schema_extra={"example": ["postgres"]},
    )
    format: Literal["custom", "plain"] = Field(
        default="custom", description="custom (restore with pg_restore) or plain SQL (restore with psql)"
    )
    globals: bool = Field(
        default=True, description="also dump roles and tablespaces (pg_dumpall --globals-only; needs a superuser)"
    )
    extra_keys: str = Field(
        default="", description="more pg_dump options, e.g. `--exclude-table-data=public.log`",
        json_schema_extra={"example": ""},
    )

    @field_validator("target")
    @classmethod
    def _all_alone(cls, targets: list[str]) -> list[str]:
        if "all" in targets and len(targets) > 1:
            raise ValueError("`all` already means every database; list either `all` or database names")
        return targets


class HotSource(_Common):
    """One server of a ``postgresql_hot`` job: a physical copy of the whole cluster with pg_basebackup."""

    template_order = ('connect', 'gzip', 'compression')  # the article's order

    connect: Connect = _connect()
    extra_keys: str = Field(
        default="", description="more pg_basebackup options, e.g. `--max-rate=50M`",
        json_schema_extra={"example": ""},
    )
