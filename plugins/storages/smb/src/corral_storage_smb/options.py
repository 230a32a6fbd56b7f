"""The keys of an ``smb`` storage entry: the article's host/port/share/user/password, plus domain and timeouts."""

from __future__ import annotations

from pydantic import Field, SecretStr

from corral import StorageOptions


class SMBOptions(StorageOptions):
    """Where and how to log in. ``backup_dir`` is a folder inside ``share`` (``/`` is the share's root)."""

    host: str = Field(description="SMB server name or address", json_schema_extra={"example": "nas.example.com"})
    port: int = Field(default=445, ge=1, le=65535, description="SMB port", json_schema_extra={"example": 445})
    share: str = Field(
        min_length=1, pattern=r"^[^/\\]+$", description="share name (without slashes)",
        json_schema_extra={"example": "backup"},
    )  # fmt: skip
    user: str = Field(description="user to log in as", json_schema_extra={"example": "backup"})
    password: SecretStr = Field(description="password of `user`", json_schema_extra={"example": "secret"})
    domain: str | None = Field(
        default=None, description="Windows domain or workgroup of `user`, if the server wants one",
        json_schema_extra={"example": ""},
    )  # fmt: skip
    encrypt: bool | None = Field(
        default=None, description="require SMB3 encryption (default: as the server wants)",
        json_schema_extra={"example": ""},
    )  # fmt: skip
    timeout: float = Field(
        default=30, gt=0, description="seconds a silent server is given (connect, login, each request)",
        json_schema_extra={"example": 30},
    )  # fmt: skip
    retries: int = Field(
        default=2, ge=0, le=10, description="extra attempts after a lost connection or a timeout",
        json_schema_extra={"example": 2},
    )  # fmt: skip
