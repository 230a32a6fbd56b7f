"""The keys of a ``redis`` source, in the article's layout (``connect``, ``gzip``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from corral import CompressedSource, Keys

_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


class RedisConnect(Keys):
    db_host: str | None = Field(default=None, description="server name or address (or use socket)",
                                json_schema_extra={"example": "localhost"})
    db_port: int = Field(default=6379, ge=1, le=65535, description="server port", json_schema_extra={"example": 6379})
    socket: Path | None = Field(default=None, description="Unix socket of the server, instead of db_host/db_port",
                                json_schema_extra={"example": ""})
    db_user: str | None = Field(default=None, description="ACL user (Redis 6+); empty: the default user",
                                json_schema_extra={"example": ""})
    db_password: SecretStr | None = Field(default=None, description="requirepass or the ACL user's password",
                                          json_schema_extra={"example": ""})

    @field_validator("*", mode="before")
    @classmethod
    def _blank_means_default(cls, value: Any, info: Any) -> Any:
        """The article's templates write unset values as ``''``."""
        if value is None or value == "":
            return cls.model_fields[info.field_name].default
        return value

    @model_validator(mode="after")
    def _one_address(self) -> RedisConnect:
        if self.socket is not None and self.db_host is not None:
            raise ValueError("give either `socket` or `db_host`, not both")
        if self.socket is None and self.db_host is None:
            raise ValueError("give `db_host` (and `db_port`) or `socket`")
        if self.db_user is not None and self.db_password is None:
            raise ValueError(f"`db_user: {self.db_user}` needs `db_password`")
        return self

    @property
    def where(self) -> str:
        return str(self.socket) if self.socket is not None else f"{self.db_host}:{self.db_port}"

    @property
    def archive_target(self) -> str:
        """``redis_<host>_<port>`` or ``redis_<socket path>``: stable, and unique per server within a job."""
        if self.socket is not None:
            return "redis_" + _UNSAFE.sub("_", str(self.socket)).strip("_")
        return f"redis_{_UNSAFE.sub('_', self.db_host or '')}_{self.db_port}"


class RedisSource(CompressedSource):
    connect: RedisConnect = Field(description="how to reach the server")
