"""The YAML keys of the ``mysql`` and ``mysql_xtradb`` job types, as the article's templates write them."""

from __future__ import annotations

import shlex
from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from corral import CompressedSource, Keys

SYSTEM_DATABASES = ["information_schema", "performance_schema", "mysql", "sys"]
ARTICLE_EXTRA_KEYS = (
    "--opt --add-drop-database --routines --comments --create-options --quote-names --order-by-primary --hex-blob"
)
DEFAULT_EXTRA_KEYS = "--routines --hex-blob"


class Connect(Keys):
    """How to reach one server. Empty keys fall back to the client's defaults (local socket, Unix user)."""

    db_host: str | None = Field(
        default=None, description="host name or IP; `localhost` without a port means the Unix socket",
        json_schema_extra={"example": "localhost"},
    )
    db_port: int | None = Field(
        default=None, ge=1, le=65535, description="TCP port; set: TCP even for localhost; empty: the socket"
    )
    socket: Path | None = Field(default=None, description="Unix socket path (instead of host and port)")
    db_user: str | None = Field(default=None, description="user name", json_schema_extra={"example": "backup"})
    db_password: SecretStr | None = Field(
        default=None, description="password (never shown in logs or in `ps`); `!env VAR` or `!file PATH` work"
    )
    auth_file: Path | None = Field(
        default=None, description="my.cnf-style file with [client] user/password, read before the keys above"
    )

    def where(self) -> str:
        """The server as a person names it in a message: ``127.0.0.1:3307`` or the socket path."""
        if self.socket is not None and (self.db_host in (None, "localhost")):
            return f"socket {self.socket}"
        if self.db_port is None and self.db_host in (None, "localhost"):
            return "localhost (default socket)"
        return f"{self.db_host or 'localhost'}:{self.db_port or 3306}"


def _shell_words(value: str) -> str:
    try:
        shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"cannot split into arguments: {exc}") from None
    return value


class MySQLSource(CompressedSource):
    """One server of a ``mysql`` job: which databases to dump with mariadb-dump/mysqldump."""

    template_order = ('connect', 'target', 'excludes', 'gzip', 'compression')  # the article's order

    connect: Connect = Field(default_factory=Connect, description="how to reach the server")
    target: list[str] = Field(
        default_factory=lambda: ["all"], min_length=1,
        description="database names, or `all` for every database but the excludes",
        json_schema_extra={"example": ["all"]},
    )
    excludes: list[str] = Field(
        default_factory=lambda: list(SYSTEM_DATABASES),
        description="databases `all` skips (shell-style patterns allowed)",
    )
    is_slave: bool = Field(
        default=False, description="a replica: pause its SQL thread during each dump (always resumed)"
    )
    extra_keys: str = Field(
        default=DEFAULT_EXTRA_KEYS,
        description="options for mariadb-dump/mysqldump (--single-transaction is added unless you lock)",
        json_schema_extra={"example": ARTICLE_EXTRA_KEYS},
    )

    @field_validator("extra_keys")
    @classmethod
    def _splittable(cls, value: str) -> str:
        return _shell_words(value)



class XtradbSource(CompressedSource):
    """One server of a ``mysql_xtradb`` job: a hot physical copy of the whole instance (mariabackup/xtrabackup).

    The tool reads the data directory, so it runs on the database server itself.
    """

    template_order = ('connect', 'name', 'gzip', 'compression')  # the article's order

    connect: Connect = Field(default_factory=Connect, description="how to reach the server")
    name: str | None = Field(
        default=None, pattern=r"^[^/\\\x00]+$",
        description="archive name (default xtradb_<host>_<port>); must differ between sources",
    )
    is_slave: bool = Field(
        default=False, description="a replica: --safe-slave-backup --slave-info (the tool resumes it)"
    )
    extra_keys: str = Field(default="", description="more options for mariabackup/xtrabackup --backup")

    @field_validator("extra_keys")
    @classmethod
    def _splittable(cls, value: str) -> str:
        return _shell_words(value)


    def archive_target(self) -> str:
        if self.name:
            return self.name
        if self.connect.socket is not None and self.connect.db_host in (None, "localhost"):
            return f"xtradb_{self.connect.socket.name}"
        return f"xtradb_{self.connect.db_host or 'localhost'}_{self.connect.db_port or 3306}"
