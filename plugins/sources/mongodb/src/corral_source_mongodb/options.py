"""The keys of a ``mongodb`` source, in the article's layout (``connect``, ``target``, ``excludes``, ``gzip``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from corral import CompressedSource, Keys


class MongoConnect(Keys):
    db_host: str = Field(default="localhost", description="server name or address",
                         json_schema_extra={"example": "localhost"})
    db_port: int = Field(default=27017, ge=1, le=65535, description="server port",
                         json_schema_extra={"example": 27017})
    db_user: str | None = Field(
        default=None, description="user with the `backup` role (or `read` on the targets); empty: no auth",
        json_schema_extra={"example": ""},
    )
    db_password: SecretStr | None = Field(default=None, description="password of db_user (or use auth_file)",
                                          json_schema_extra={"example": ""})
    auth_file: Path | None = Field(
        default=None, description="YAML file with `password:` (mongodump's --config format), mode 0600",
        json_schema_extra={"example": ""},
    )
    auth_db: str = Field(default="admin", description="database that holds the user (authSource)",
                         json_schema_extra={"example": "admin"})

    @field_validator("*", mode="before")
    @classmethod
    def _blank_means_default(cls, value: Any, info: Any) -> Any:
        """The article's templates write unset values as ``''``."""
        if value is None or value == "":
            return cls.model_fields[info.field_name].default
        return value

    @model_validator(mode="after")
    def _one_password(self) -> MongoConnect:
        if self.db_password is not None and self.auth_file is not None:
            raise ValueError("give either `db_password` or `auth_file`, not both")
        has_password = self.db_password is not None or self.auth_file is not None
        if has_password and not self.db_user:
            raise ValueError("a password needs `db_user`")
        if self.db_user and not has_password:
            raise ValueError(f"`db_user: {self.db_user}` needs `db_password` or `auth_file`")
        return self


class MongoSource(CompressedSource):
    connect: MongoConnect = Field(default_factory=MongoConnect, description="how to reach the server")
    target: list[str] = Field(
        min_length=1, description="databases to dump, or `all`; each database becomes its own archive",
        json_schema_extra={"example": ["all"]},
    )
    excludes: list[str] = Field(
        default_factory=lambda: ["admin", "config", "local"],
        description="databases `all` leaves out", json_schema_extra={"example": ["admin", "config", "local"]},
    )
    exclude_collections: list[str] = Field(
        default=[],
        description="collections to leave out: `db.collection`, globs allowed (`*.sessions`); no dot: any database",
        json_schema_extra={"example": []},
    )
    @field_validator("excludes", "exclude_collections", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("target", "excludes", "exclude_collections")
    @classmethod
    def _no_blank_names(cls, names: list[str]) -> list[str]:
        if any(not name.strip() for name in names):
            raise ValueError("names must not be empty")
        return names
