"""The keys of an ``scp`` / ``sftp`` storage entry (the article's keys, plus what SSH needs in practice)."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from corral import StorageOptions

DEFAULT_CIPHER = "aes128-gcm@openssh.com"


FALLBACK_CIPHERS = (
    "aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com",
    "aes128-ctr", "aes192-ctr", "aes256-ctr",
)  # fmt: skip


@functools.cache
def known_ciphers() -> tuple[str, ...]:
    """The ciphers this machine's ``ssh`` speaks (``ssh -Q cipher``), or OpenSSH's usual set without it."""
    if shutil.which("ssh"):
        done = subprocess.run(["ssh", "-Q", "cipher"], capture_output=True, text=True, check=False)
        found = tuple(line.strip() for line in done.stdout.splitlines() if line.strip())
        if done.returncode == 0 and found:
            return found
    return FALLBACK_CIPHERS


class SSHOptions(StorageOptions):
    """Where and how to log in. Host keys are verified against ``known_hosts`` unless ``host_key_check: no``."""

    host: str = Field(description="SSH server name or address", json_schema_extra={"example": "backup.example.com"})
    port: int = Field(default=22, ge=1, le=65535, description="SSH port", json_schema_extra={"example": 22})
    user: str = Field(description="user to log in as", json_schema_extra={"example": "backup"})
    password: SecretStr | None = Field(
        default=None, description="password (when no key is given)", json_schema_extra={"example": ""}
    )
    path_to_key: Path | None = Field(
        default=None, description="private key file (OpenSSH or PEM format)",
        json_schema_extra={"example": "/root/.ssh/id_ed25519"},
    )  # fmt: skip
    key_passphrase: SecretStr | None = Field(
        default=None, description="passphrase of `path_to_key`, if it has one", json_schema_extra={"example": ""}
    )
    known_hosts: Path | None = Field(
        default=None,
        description="known_hosts file holding the server's host key (`ssh-keyscan -p PORT HOST >> FILE`)",
        json_schema_extra={"example": "/root/.ssh/known_hosts"},
    )
    host_key_check: bool = Field(
        default=True, description="verify the server's host key; `no` trusts any server (not recommended)",
        json_schema_extra={"example": True},
    )  # fmt: skip
    cipher: str = Field(
        default=DEFAULT_CIPHER,
        description="preferred cipher; AES-GCM is the fastest where the CPU has AES instructions, ssh's other "
        "ciphers remain as fallbacks",
        json_schema_extra={"example": DEFAULT_CIPHER},
    )
    timeout: float = Field(
        default=30, gt=0, description="seconds a silent server is given (connect, login, each operation)",
        json_schema_extra={"example": 30},
    )  # fmt: skip
    retries: int = Field(
        default=2, ge=0, le=10, description="extra attempts after a lost connection or a timeout",
        json_schema_extra={"example": 2},
    )  # fmt: skip

    @field_validator("cipher")
    @classmethod
    def _known_cipher(cls, cipher: str) -> str:
        known = known_ciphers()
        if cipher not in known:
            raise ValueError(f"unknown cipher `{cipher}`; choose one of {', '.join(known)}")
        return cipher

    @model_validator(mode="after")
    def _host_keys_are_checked(self) -> SSHOptions:
        if self.host_key_check and self.known_hosts is None:
            raise ValueError(
                "`known_hosts` is required to verify the server's host key: point it at a known_hosts file "
                f"(`ssh-keyscan -p {self.port} {self.host} >> FILE`), or set `host_key_check: no` to trust any server"
            )
        return self
