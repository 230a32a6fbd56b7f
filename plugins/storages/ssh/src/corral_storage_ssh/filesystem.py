"""SFTP through sshfs (asyncssh): connection options, an overwriting rename, and clean errors."""

from __future__ import annotations

import asyncio
import errno
import logging
from typing import Any

import asyncssh
from asyncssh.sftp import SFTPFailure, SFTPOpUnsupported
from fsspec import AbstractFileSystem
from fsspec.asyn import FSTimeoutError
from sshfs import SSHFileSystem
from sshfs.utils import WRITE_BLOCK_SIZE, wrap_exceptions

from corral.remote import RemoteFileSystem, Retry, ServerBusy
from corral_storage_ssh.options import SSHOptions

KEEPALIVE_COUNT = 3


def _not_noise_of_a_lost_connection(record: logging.LogRecord) -> bool:
    """When a connection dies mid-upload, asyncssh leaves the failures of its parallel write tasks unread (asyncio
    prints each with a traceback at garbage collection) and its transport logs "socket.send() raised exception."
    for every write still queued; the upload itself already failed, with one line."""
    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, asyncssh.Error | ConnectionError | TimeoutError):
        return False
    return record.getMessage() != "socket.send() raised exception."


logging.getLogger("asyncio").addFilter(_not_noise_of_a_lost_connection)


class SFTPFileSystem(SSHFileSystem):
    """sshfs with a complete upload of sparse files, and a rename that always replaces the target and never
    falls back to a shell ``cp``."""

    # fsspec's instance cache keys on the arguments, where a SecretStr password reads `**********`: a second
    # storage with another password would get the first one's logged-in instance
    cachable = False

    @wrap_exceptions
    async def _put_file(self, lpath: str, rpath: str, block_size: int = WRITE_BLOCK_SIZE, **kwargs: Any) -> None:
        # asyncssh's default sparse copy skips holes and never extends the file: an archive ending in a hole
        # would arrive short
        async with self._pool.get() as channel:
            await channel.put(lpath, rpath, block_size=block_size, sparse=False)

    @wrap_exceptions
    async def _mv(self, path1: str, path2: str, **kwargs: Any) -> None:
        async with self._pool.get() as channel:
            try:
                await channel.posix_rename(path1, path2)  # OpenSSH's atomic, overwriting rename
                return
            except SFTPOpUnsupported:
                pass
            try:
                await channel.rename(path1, path2)  # plain SFTP v3 rename refuses an existing target
            except SFTPFailure:
                if not await channel.exists(path2):
                    raise
                await channel.remove(path2)
                await channel.rename(path1, path2)


def label(options: SSHOptions, scheme: str) -> str:
    return f"{scheme}://{options.user}@{options.host}:{options.port}"


def connect_arguments(options: SSHOptions) -> dict[str, Any]:
    """asyncssh options: host-key policy, credentials, cipher order and the timeouts that bound every wait."""
    from asyncssh.encryption import get_default_encryption_algs

    fallbacks = [alg.decode() for alg in get_default_encryption_algs()]
    ciphers = [options.cipher, *(cipher for cipher in fallbacks if cipher != options.cipher)]
    arguments: dict[str, Any] = {
        "port": options.port,
        "username": options.user,
        "known_hosts": str(options.known_hosts) if options.host_key_check and options.known_hosts else None,
        "encryption_algs": ciphers,
        "compression_algs": None,  # archives are compressed already: zlib would only burn CPU
        "connect_timeout": options.timeout,
        "login_timeout": options.timeout,
        # a server that stops answering mid-transfer is dropped after about `timeout` seconds
        "keepalive_interval": max(options.timeout / KEEPALIVE_COUNT, 0.5),
        "keepalive_count_max": KEEPALIVE_COUNT,
    }
    if options.path_to_key is not None:
        arguments["client_keys"] = [str(options.path_to_key)]
        if options.key_passphrase is not None:
            arguments["passphrase"] = options.key_passphrase.get_secret_value()
    elif options.password is not None:
        arguments["client_keys"] = []  # a password was given: do not offer ~/.ssh keys or an agent first
        arguments["agent_path"] = None
    if options.password is not None:
        arguments["password"] = options.password.get_secret_value()
    return arguments


def translate(exc: BaseException, action: str, options: SSHOptions) -> OSError | None:
    """asyncssh/sshfs errors as builtin errors with a message that says what to fix."""
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return PermissionError(
            errno.EACCES,
            f"host key of {options.host}:{options.port} is not trusted by `{options.known_hosts}` "
            "(add it with ssh-keyscan after checking its fingerprint, or set `host_key_check: no`)",
        )
    if isinstance(exc, asyncssh.PermissionDenied) or (action == "connect" and isinstance(exc, PermissionError)):
        return PermissionError(
            errno.EACCES, f"authentication failed for user `{options.user}` (check `password` / `path_to_key`)"
        )
    if isinstance(exc, asyncssh.KeyImportError):
        return PermissionError(errno.EACCES, f"cannot read the key `{options.path_to_key}`: {exc}")
    if isinstance(exc, FileNotFoundError) and action == "connect":
        return FileNotFoundError(errno.ENOENT, f"file not found: {exc.filename or exc}")
    if isinstance(exc, asyncssh.ChannelOpenError):
        return ServerBusy(errno.EAGAIN, f"the server refused a new channel ({exc.reason})")
    if isinstance(exc, asyncssh.sftp.SFTPConnectionLost | asyncssh.sftp.SFTPNoConnection | asyncssh.ConnectionLost):
        return ConnectionResetError(errno.ECONNRESET, f"connection lost ({exc.reason})")
    if isinstance(exc, asyncssh.sftp.SFTPNoSpaceOnFilesystem | asyncssh.sftp.SFTPQuotaExceeded):
        return OSError(errno.ENOSPC, f"no space left on the server ({exc.reason})")
    if isinstance(exc, asyncssh.sftp.SFTPPermissionDenied):
        return PermissionError(errno.EACCES, f"permission denied ({exc.reason})")
    if isinstance(exc, asyncssh.sftp.SFTPError):
        return OSError(errno.EIO, f"SFTP error: {exc.reason}")
    if isinstance(exc, asyncssh.DisconnectError):
        return ConnectionAbortedError(errno.ECONNABORTED, f"disconnected: {exc.reason}")
    if isinstance(exc, FSTimeoutError | asyncio.TimeoutError):
        return TimeoutError(errno.ETIMEDOUT, f"no answer within {options.timeout:g} s (timed out)")
    if isinstance(exc, OSError) and exc.errno == errno.EHOSTUNREACH:
        return ConnectionError(errno.EHOSTUNREACH, "host unreachable")
    return None


def open_filesystem(options: SSHOptions, scheme: str) -> RemoteFileSystem:
    """A connected SFTP filesystem for one storage; reconnects by itself after a transient error."""
    arguments = connect_arguments(options)

    def connect() -> AbstractFileSystem:
        if options.host_key_check and options.known_hosts is not None and not options.known_hosts.is_file():
            raise FileNotFoundError(errno.ENOENT, "not found", str(options.known_hosts))
        if options.path_to_key is not None and not options.path_to_key.is_file():
            raise FileNotFoundError(errno.ENOENT, "not found", str(options.path_to_key))
        return SFTPFileSystem(
            options.host,
            skip_instance_cache=True,  # a cached instance would hand out a dead connection (fsspec/sshfs#42)
            timeout=2 * options.timeout + 5,  # a last resort: asyncssh's own timeouts fire first
            **arguments,
        )

    def close(fs: AbstractFileSystem) -> None:
        client = getattr(fs, "_client", None)
        if client is not None and fs.loop is not None:
            fs.loop.call_soon_threadsafe(client.close)

    secrets = [s.get_secret_value() for s in (options.password, options.key_passphrase) if s is not None]
    return RemoteFileSystem(
        connect,
        label=label(options, scheme),
        translate=lambda exc, action: translate(exc, action, options),
        retry=Retry(attempts=options.retries + 1),
        secrets=secrets,
        close=close,
    )
