"""One NFS client connection that survives what a network does: timeouts, dropped connections, restarts.

Every operation runs under ``timeout`` (nfs-rs ``operation_timeout``). Transient failures are retried with backoff
on a fresh connection when the old one is unusable; whether a retry is safe is the caller's call, because a
timed-out rename or remove may have happened on the server. nfs-rs errors become builtin ``OSError``\\s that name
the server, the operation and the path.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable
from contextlib import suppress
from typing import TypeVar

import nfs_rs
from nfs_rs import (
    NfsClientClosedError,
    NfsConnectionError,
    NfsError,
    NfsRetryableError,
    NfsStateLostError,
    NfsTimeoutError,
    RecoveryAction,
)

from corral import StorageError
from corral_storage_nfs.options import NFSOptions

log = logging.getLogger("corral")
T = TypeVar("T")
TRANSIENT = (NfsTimeoutError, NfsConnectionError, NfsRetryableError, NfsStateLostError, NfsClientClosedError)
RECONNECT = (NfsConnectionError, NfsStateLostError, NfsClientClosedError)


def server_name(options: NFSOptions) -> str:
    host = f"[{options.host}]" if ":" in options.host else options.host
    return f"{host}:{options.port}"


def is_transient(exc: NfsError) -> bool:
    return isinstance(exc, TRANSIENT) or exc.recovery_action in {
        RecoveryAction.RETRY, RecoveryAction.REOPEN, RecoveryAction.REMOUNT,
    }  # fmt: skip


class Connection:
    """A connected ``nfs_rs.Client`` plus the retry policy; not shared between threads."""

    def __init__(self, options: NFSOptions) -> None:
        self.options = options
        self.server = server_name(options)
        self.client: nfs_rs.Client | None = self._connect()

    def _mount(self) -> nfs_rs.Client:
        options = self.options
        reserved = options.reserved_port if options.reserved_port is not None else os.geteuid() == 0
        url = f"nfs://{self.server.rsplit(':', 1)[0]}{options.export}"
        return nfs_rs.Client.connect(
            url, versions=[options.version], nfs_port=options.port, mount_port=options.mount_port,
            uid=options.uid, gid=options.gid, noresvport=not reserved,
            connect_timeout=options.timeout, operation_timeout=options.timeout,
        )  # fmt: skip

    def _connect(self) -> nfs_rs.Client:
        options = self.options
        try:
            return self._mount()
        except NfsError as exc:
            raise StorageError(f"cannot mount `{options.export}` from NFS server {self.server} "
                               f"(NFSv{options.version}): {self._reason(exc)}") from None  # fmt: skip

    def _reason(self, exc: NfsError) -> str:
        if isinstance(exc, NfsTimeoutError):
            return f"no answer within {self.options.timeout:g} s"
        message = (exc.message or str(exc)).strip().splitlines()
        return message[0] if message else type(exc).__name__

    def reconnect(self) -> None:
        self.close()
        self.client = self._connect()

    def close(self) -> None:
        """Close the client, once: nfs-rs tries again at every close, and each waits ``timeout`` on a dead server."""
        client, self.client = self.client, None
        if client is not None:
            with suppress(Exception):
                client.close()

    def abandon(self) -> None:
        """Drop a client whose server stopped answering, without closing it (its close would wait ``timeout`` for
        an answer that will not come; the server forgets its state when the lease expires). The next operation
        connects anew."""
        self.client = None

    def run(self, operation: str, path: str, call: Callable[[nfs_rs.Client], T], *, retry: bool = True) -> T:
        """``call(client)``, retried on transient failures when ``retry`` (the operation is safe to repeat)."""
        attempts = self.options.retries + 1 if retry else 1
        for attempt in range(attempts):
            try:
                if self.client is None:  # dropped (see abandon), or a reconnect failed: its failure is retried too
                    self.client = self._mount()
                return call(self.client)
            except NfsError as exc:
                if attempt + 1 >= attempts or not is_transient(exc):
                    raise self.translate(exc, operation, path) from None
                log.warning("NFS %s `%s` on %s failed (%s); retrying", operation, path, self.server,
                            self._reason(exc))  # fmt: skip
                time.sleep(min(2**attempt, 30))
                if isinstance(exc, RECONNECT) or self.client is None or self.client.closed:
                    with suppress(StorageError):  # still down: the next attempt fails and says so
                        self.reconnect()
        raise AssertionError("unreachable")

    def translate(self, exc: NfsError, operation: str, path: str) -> OSError:
        """A builtin OSError of the same kind, naming server, operation and path; never a bare NFS code."""
        shown = f"/{path}"
        if isinstance(exc, FileNotFoundError):
            return FileNotFoundError(errno.ENOENT, "No such file or directory on the NFS export", shown)
        if isinstance(exc, PermissionError):
            return PermissionError(errno.EACCES, f"NFS server {self.server} refused {operation} as uid "
                                   f"{self.options.uid} (check the export's permissions and squashing)", shown)
        if isinstance(exc, NfsTimeoutError):
            return TimeoutError(errno.ETIMEDOUT, f"NFS server {self.server} did not answer {operation} within "
                                f"{self.options.timeout:g} s", shown)  # fmt: skip
        if isinstance(exc, RECONNECT):
            return ConnectionError(errno.ECONNRESET, f"lost the NFS server {self.server} during {operation}: "
                                   f"{self._reason(exc)}", shown)  # fmt: skip
        kinds = (FileExistsError, IsADirectoryError, NotADirectoryError)
        kind = next((k for k in kinds if isinstance(exc, k)), OSError)
        return kind(exc.errno or errno.EIO, f"NFS {operation} failed: {self._reason(exc)}", shown)
