"""The keys of an ``ftp`` storage entry: the article's host/user/password, plus FTPS, passive mode and timeouts."""

from __future__ import annotations

from pydantic import Field, SecretStr

from corral import StorageOptions


class FTPOptions(StorageOptions):
    """Where and how to log in; ``tls: yes`` switches to explicit FTPS (AUTH TLS, protected data connections)."""

    host: str = Field(description="FTP server name or address", json_schema_extra={"example": "ftp.example.com"})
    port: int = Field(default=21, ge=1, le=65535, description="FTP control port", json_schema_extra={"example": 21})
    user: str = Field(description="user to log in as", json_schema_extra={"example": "backup"})
    password: SecretStr = Field(description="password of `user`", json_schema_extra={"example": "secret"})
    tls: bool = Field(
        default=False, description="explicit FTPS: AUTH TLS on the control port, encrypted transfers",
        json_schema_extra={"example": False},
    )  # fmt: skip
    tls_verify: bool = Field(
        default=True, description="check the server's TLS certificate against the system's CAs (or `ca_file`)",
        json_schema_extra={"example": True},
    )  # fmt: skip
    ca_file: str | None = Field(
        default=None, description="CA bundle (PEM) that signed the server's certificate",
        json_schema_extra={"example": ""},
    )  # fmt: skip
    passive: bool = Field(
        default=True, description="passive mode (the client opens data connections; works through NAT)",
        json_schema_extra={"example": True},
    )  # fmt: skip
    timeout: float = Field(
        default=30, gt=0, description="seconds a silent server is given (connect, each command, each data block)",
        json_schema_extra={"example": 30},
    )  # fmt: skip
    retries: int = Field(
        default=2, ge=0, le=10, description="extra attempts after a lost connection, a timeout or a 4xx reply",
        json_schema_extra={"example": 2},
    )  # fmt: skip
