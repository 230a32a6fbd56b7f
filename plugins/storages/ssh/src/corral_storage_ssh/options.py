"""The keys of an ``scp`` / ``sftp`` storage entry (the article's keys, plus what SSH needs in practice)."""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from corral import StorageOptions

DEFAULT_CIPHER = "aes128-gcm@openssh.com"


FALLBACK_CIPHERS = (
    "aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com",
    "aes128-ctr", "aes192-ctr", "aes256-ctr",
)  # fmt: skip


def local_file_problem(path: Path) -> str | None:
    """Why ``ssh`` could not read ``path`` as a file, in a few words; None when it can."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return "does not exist"
    except PermissionError:
        return f"cannot be reached by user `{_user()}` (a parent folder is not searchable)"
    except OSError as exc:
        return f"cannot be reached ({exc.strerror or type(exc).__name__})"
    if stat.S_ISDIR(found.st_mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(found.st_mode):
        return "is not a regular file"
    try:
        with path.open("rb"):  # as ssh will: permission bits, ACLs and the rest all have their say
            pass
    except PermissionError:
        return f"is not readable by user `{_user()}`"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    return None


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


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
    fsync: bool = Field(
        default=True, description="make each upload durable on the server (fsync@openssh.com) before its rename, so "
        "a crash of the storage server never leaves a half-written file under a backup's name; `no` stores as scp "
        "does (the server's disk writes it back later): about 7% faster, not crash-safe",
        json_schema_extra={"example": True},
    )  # fmt: skip
    timeout: float = Field(
        default=30, gt=0, description="seconds a silent server is given (connect, login, each operation)",
        json_schema_extra={"example": 30},
    )  # fmt: skip
    retries: int = Field(
        default=2, ge=0, le=10, description="extra attempts after a lost connection or a timeout",
        json_schema_extra={"example": 2},
    )  # fmt: skip

    @field_validator("path_to_key", "known_hosts", mode="before")
    @classmethod
    def _home_expanded(cls, value: Any) -> Any:
        if not (isinstance(value, str) and value.startswith("~")):
            return value
        try:
            return str(Path(value).expanduser())
        except RuntimeError:  # `~nosuchuser/key`
            raise ValueError(f"`{value}`: no such user's home") from None

    @field_validator("path_to_key", "known_hosts")
    @classmethod
    def _readable_local_file(cls, path: Path | None) -> Path | None:
        """Checked with the configuration: a mistyped path fails `corral check` with its file and line."""
        if path is None:
            return None
        if not path.is_absolute():
            raise ValueError(f"write an absolute path: `{path}` is relative to the folder corral is started in "
                             "(cron starts it in the user's home)")  # fmt: skip
        problem = local_file_problem(path)
        if problem is not None:
            raise ValueError(f"local file `{path}` {problem}")
        return path

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
