"""WebDAV through webdav4's fsspec filesystem, adapted to atomic uploads and unattended runs.

What changes from ``WebdavFileSystem``: ``mv`` of a file is one ``MOVE`` with ``Overwrite: T`` (webdav4 copies and
deletes, and a ``COPY`` in progress shows a partial file under the final name); uploads stream the file with a
``Content-Length`` without re-creating the parent folders; names read ``/folder/file`` like the paths corral
gives; webdav4's own retries are off (the wrapper retries on a fresh connection, and never a 401); httpx's
timeouts bound every connect, read and write.
"""

from __future__ import annotations

import errno
import os
import ssl
import threading
from http import HTTPStatus
from typing import Any

import httpx
from fsspec import AbstractFileSystem
from webdav4 import client as dav
from webdav4.fsspec import WebdavFileSystem

from corral import RemoteFileSystem, Retry, ServerBusy
from corral_storage_webdav.options import WebDAVOptions

CHUNK = 1 << 20
BUSY = {HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.INTERNAL_SERVER_ERROR, HTTPStatus.BAD_GATEWAY,
        HTTPStatus.SERVICE_UNAVAILABLE, HTTPStatus.GATEWAY_TIMEOUT, HTTPStatus.LOCKED}  # fmt: skip


class BackupWebdavFileSystem(WebdavFileSystem):
    """webdav4 on an httpx client with bounded waits; paths are ``/folder/file`` below the base URL."""

    # fsspec's instance cache keys on the arguments, where a SecretStr password reads `**********`: a second
    # storage with another password would get the first one's instance
    cachable = False
    streams = True  # `open(path, "wb")`: one chunked PUT fed as the bytes come (see ChunkedPut)

    def __init__(self, options: WebDAVOptions) -> None:
        verify: bool | ssl.SSLContext = options.verify
        if options.verify and options.ca_file:
            verify = ssl.create_default_context(cafile=options.ca_file)
        auth = None
        if options.user is not None:
            password = options.password.get_secret_value() if options.password is not None else ""
            auth = (options.user, password)
        super().__init__(
            options.base_url, auth=auth, retry=False, timeout=httpx.Timeout(options.timeout), verify=verify,
            chunk_size=CHUNK,
        )  # fmt: skip
        self.info("/")  # PROPFIND on the collection: a wrong password or URL fails the storage now

    @staticmethod
    def _named(entry: dict[str, Any]) -> dict[str, Any]:
        return {**entry, "name": "/" + entry["name"].strip("/"), "size": entry.get("size") or 0}

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        entries = [self._named(entry) for entry in super().ls(path, detail=True)]
        return entries if detail else [entry["name"] for entry in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._named(super().info(path))

    def put_file(self, lpath: str, rpath: str, callback: Any = None, **kwargs: Any) -> None:
        """One streamed PUT with Content-Length: 1 MiB in memory at a time, whatever the archive's size."""
        with open(lpath, "rb") as source:
            self.client.upload_fileobj(
                source, self._strip_protocol(rpath), overwrite=True, size=os.fstat(source.fileno()).st_size
            )

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        """Reading as webdav4 does; writing (``wb``) as one chunked PUT while the bytes come (webdav4's own
        writer would keep them in a temp file until closed)."""
        if "w" not in mode:
            return super().open(path, mode, **kwargs)
        return ChunkedPut(self, self._strip_protocol(path))

    def get_file(self, rpath: str, lpath: str, callback: Any = None, outfile: Any = None, **kwargs: Any) -> None:
        self.client.download_file(self._strip_protocol(rpath), lpath, chunk_size=CHUNK)

    def mv(self, path1: str, path2: str, recursive: bool = False, maxdepth: int | None = None, **kwargs: Any) -> None:
        self.client.move(self._strip_protocol(path1), self._strip_protocol(path2), overwrite=True)

    def close(self) -> None:
        self.client.http.close()


class _PipeEnd:
    """The read end of a pipe that hides its file number: httpx must not take a pipe's size for the body's."""

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "rb")

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def close(self) -> None:
        self._file.close()


class ChunkedPut:
    """A file written by one HTTP PUT with chunked transfer encoding: the writes go through an OS pipe to a
    thread running the request, so memory holds one chunk and nothing touches the local disk."""

    def __init__(self, fs: BackupWebdavFileSystem, path: str) -> None:
        read_fd, write_fd = os.pipe()
        self._body = _PipeEnd(read_fd)
        self._pipe = os.fdopen(write_fd, "wb", buffering=0)
        self.error: BaseException | None = None
        self.closed = False
        self._thread = threading.Thread(target=self._put, args=(fs, path), daemon=True, name="corral-webdav-put")
        self._thread.start()

    def _put(self, fs: BackupWebdavFileSystem, path: str) -> None:
        try:
            fs.client.upload_fileobj(self._body, path, overwrite=True, chunk_size=CHUNK)  # type: ignore[arg-type]
        except BaseException as exc:
            self.error = exc
        finally:
            self._body.close()  # a writer still feeding the pipe gets EPIPE at once

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._pipe.fileno(), view) :]
        except BrokenPipeError:
            raise self.error or BrokenPipeError("the server ended the upload") from None
        return len(data)

    def flush(self) -> None:
        """Nothing: the bytes are on their way as they are written."""

    def close(self) -> None:
        """End the body and wait for the server's answer; its error, if any, is raised here."""
        if self.closed:
            return
        self.closed = True
        self._pipe.close()
        self._thread.join()
        if self.error is not None:
            raise self.error


def _tls_cause(exc: BaseException) -> ssl.SSLError | None:
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ssl.SSLError):
        cause = cause.__cause__ or cause.__context__
    return cause


def translate(exc: BaseException, action: str, options: WebDAVOptions) -> OSError | None:
    """HTTP statuses and httpx's network errors as builtin errors; 5xx, 423 and 429 are worth another try."""
    if isinstance(exc, dav.HTTPError):
        status = exc.status_code
        if status == HTTPStatus.UNAUTHORIZED:
            who = f"user `{options.user}`" if options.user else "no `user` given"
            return PermissionError(errno.EACCES, f"authentication failed ({who}; 401 Unauthorized)")
        if status == HTTPStatus.FORBIDDEN:
            return PermissionError(errno.EACCES, "forbidden (403)")
        if status in BUSY:
            return ServerBusy(errno.EAGAIN, f"the server is busy or failed ({status} {HTTPStatus(status).phrase})")
        if status == HTTPStatus.INSUFFICIENT_STORAGE:
            return OSError(errno.ENOSPC, "no space left on the server (507)")
        if status == HTTPStatus.METHOD_NOT_ALLOWED and action == "connect":
            return OSError(errno.EPROTO, "the URL does not speak WebDAV (PROPFIND not allowed)")
        return OSError(errno.EIO, f"the server answered {status}")
    if isinstance(exc, dav.InsufficientStorage):
        return OSError(errno.ENOSPC, "no space left on the server (507)")
    if isinstance(exc, dav.ResourceLocked | dav.BadGatewayError):
        return ServerBusy(errno.EAGAIN, f"the server is busy ({type(exc).__name__})")
    if isinstance(exc, dav.ResourceNotFound):
        return FileNotFoundError(errno.ENOENT, "no such file or folder")
    if isinstance(exc, dav.ResourceConflict):
        return FileNotFoundError(errno.ENOENT, "the parent folder does not exist (409 Conflict)")
    if isinstance(exc, dav.ForbiddenOperation):
        return PermissionError(errno.EACCES, "forbidden (403)")
    if isinstance(exc, httpx.TimeoutException):
        return TimeoutError(errno.ETIMEDOUT, f"no answer within {options.timeout:g} s (timed out)")
    if isinstance(exc, httpx.ConnectError):
        tls = _tls_cause(exc)
        if isinstance(tls, ssl.SSLCertVerificationError):
            return PermissionError(errno.EACCES, f"TLS certificate not trusted ({tls.verify_message}); set "
                                   "`ca_file`, or `verify: no` to skip the check")
        if tls is not None:
            return OSError(errno.EPROTO, f"TLS handshake failed ({tls.reason}); does the server speak https?")
        if "refused" in str(exc).lower():
            return ConnectionRefusedError(errno.ECONNREFUSED, "connection refused")
        return ConnectionError(errno.EHOSTUNREACH, f"cannot connect ({exc})")
    if isinstance(exc, httpx.TransportError):
        return ConnectionResetError(errno.ECONNRESET, f"connection lost ({type(exc).__name__})")
    if isinstance(exc, dav.ClientError):
        return OSError(errno.EIO, f"WebDAV error: {exc}")
    return None


def open_filesystem(options: WebDAVOptions) -> RemoteFileSystem:
    """A WebDAV filesystem checked with one PROPFIND; a new HTTP client after a transient error."""

    def connect() -> AbstractFileSystem:
        return BackupWebdavFileSystem(options)

    def close(fs: AbstractFileSystem) -> None:
        assert isinstance(fs, BackupWebdavFileSystem)
        fs.close()

    who = f" (user {options.user})" if options.user else ""
    return RemoteFileSystem(
        connect,
        label=f"{options.base_url}{who}",
        translate=lambda exc, action: translate(exc, action, options),
        retry=Retry(attempts=options.retries + 1),
        secrets=[options.password.get_secret_value()] if options.password is not None else [],
        close=close,
    )
