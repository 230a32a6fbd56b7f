"""The storage's filesystem: SFTP over OpenSSH (see :mod:`corral_storage_ssh.openssh`), behind corral's retry layer."""

from __future__ import annotations

import errno
import socket
from typing import Any

import paramiko
from fsspec import AbstractFileSystem

from corral import RemoteFileSystem, Retry
from corral_storage_ssh.openssh import CLEAN_ERRORS, LocalFileError, OpenSSHFileSystem, explain
from corral_storage_ssh.options import SSHOptions, local_file_problem


def label(options: SSHOptions, scheme: str) -> str:
    return f"{scheme}://{options.user}@{options.host}:{options.port}"


def check_local_files(options: SSHOptions) -> None:
    """The key and known_hosts were checked with the configuration; they may have gone since (a reconnect)."""
    files = {"path_to_key": options.path_to_key}
    if options.host_key_check:
        files["known_hosts"] = options.known_hosts
    for key, path in files.items():
        problem = local_file_problem(path) if path is not None else None
        if problem is not None:
            raise LocalFileError(errno.ENOENT, f"local file `{path}` (`{key}`) {problem}")


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
        check_local_files(options)
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
