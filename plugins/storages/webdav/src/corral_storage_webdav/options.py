"""The keys of a ``webdav`` storage entry: a ``url`` (or ``host``/``port``/``https``), credentials, TLS, timeouts."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from corral import StorageOptions


class WebDAVOptions(StorageOptions):
    """Where the WebDAV collection is and how to log in (HTTP basic or digest auth)."""

    url: str | None = Field(
        default=None, description="URL of the WebDAV collection that holds `backup_dir` (instead of host/port)",
        json_schema_extra={"example": "https://cloud.example.com/remote.php/dav/files/backup/"},
    )  # fmt: skip
    host: str | None = Field(
        default=None, description="server name or address (when no `url` is given)",
        json_schema_extra={"example": ""},
    )  # fmt: skip
    port: int | None = Field(
        default=None, ge=1, le=65535, description="port (default 443 with https, else 80)",
        json_schema_extra={"example": ""},
    )  # fmt: skip
    https: bool = Field(default=True, description="use HTTPS with `host`", json_schema_extra={"example": True})
    user: str | None = Field(default=None, description="user to log in as", json_schema_extra={"example": "backup"})
    password: SecretStr | None = Field(
        default=None, description="password of `user`", json_schema_extra={"example": "secret"}
    )
    verify: bool = Field(
        default=True, description="check the server's TLS certificate (against `ca_file` or the system's CAs)",
        json_schema_extra={"example": True},
    )  # fmt: skip
    ca_file: str | None = Field(
        default=None, description="CA bundle (PEM) that signed the server's certificate",
        json_schema_extra={"example": ""},
    )  # fmt: skip
    timeout: float = Field(
        default=30, gt=0, description="seconds a silent server is given (connect, each read and write)",
        json_schema_extra={"example": 30},
    )  # fmt: skip
    retries: int = Field(
        default=2, ge=0, le=10,
        description="extra attempts after a lost connection, a timeout or a 5xx/429 answer",
        json_schema_extra={"example": 2},
    )  # fmt: skip

    @field_validator("url")
    @classmethod
    def _plain_http_url(cls, url: str | None) -> str | None:
        if url is None:
            return url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        if parts.username or parts.password:
            raise ValueError("must not contain credentials; give them as `user` and `password`")
        return url

    @model_validator(mode="after")
    def _one_address(self) -> WebDAVOptions:
        if (self.url is None) == (self.host is None):
            raise ValueError("give either `url` or `host` (with `port` and `https`), not both")
        return self

    @property
    def base_url(self) -> str:
        if self.url is not None:
            return self.url if self.url.endswith("/") else self.url + "/"
        scheme = "https" if self.https else "http"
        port = self.port or (443 if self.https else 80)
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{scheme}://{host}:{port}/"
