"""The storage's filesystem: SFTP over OpenSSH (see :mod:`corral_storage_ssh.openssh`), behind corral's retry layer."""

from __future__ import annotations

import errno
import socket
from typing import Any

import paramiko
from fsspec import AbstractFileSystem

from corral.remote import RemoteFileSystem, Retry
from corral_storage_ssh.openssh import CLEAN_ERRORS, OpenSSHFileSystem, explain
from corral_storage_ssh.options import SSHOptions


def label(options: SSHOptions, scheme: str) -> str:
    return f"{scheme}://{options.user}@{options.host}:{options.port}"


def translate(exc: BaseException, fs: AbstractFileSystem | None, options: SSHOptions) -> OSError | None:
    """The session's and SFTP's errors as builtin errors with a message that says what to fix."""
    if isinstance(exc, CLEAN_ERRORS):
        return exc
    broken = isinstance(exc, EOFError | paramiko.SSHException | BrokenPipeError | ConnectionResetError | socket.timeout)
    if broken:
        session = getattr(fs, "session", None)
        said = session.last_words() if session is not None else ""
        return explain(said, exc, options)
    if isinstance(exc, OSError) and exc.errno is None and "failure" in str(exc).lower():
        return OSError(errno.EIO, f"the server refused: {exc}")  # SFTP v3 says "Failure" for most refusals
    return None


def open_filesystem(options: SSHOptions, scheme: str) -> RemoteFileSystem:
    """A connected SFTP filesystem for one storage; reconnects by itself after a transient error."""
    current: list[AbstractFileSystem] = []

    def connect() -> AbstractFileSystem:
        if options.host_key_check and options.known_hosts is not None and not options.known_hosts.is_file():
            raise FileNotFoundError(errno.ENOENT, "not found", str(options.known_hosts))
        if options.path_to_key is not None and not options.path_to_key.is_file():
            raise FileNotFoundError(errno.ENOENT, "not found", str(options.path_to_key))
        current[:] = [OpenSSHFileSystem(options)]
        return current[0]

    def close(fs: Any) -> None:
        fs.session.close()

    secrets = [s.get_secret_value() for s in (options.password, options.key_passphrase) if s is not None]
    return RemoteFileSystem(
        connect,
        label=label(options, scheme),
        translate=lambda exc, _action: translate(exc, current[0] if current else None, options),
        retry=Retry(attempts=options.retries + 1),
        secrets=secrets,
        close=close,
    )
