"""SMB2/3 through fsspec's smb filesystem (smbprotocol), adapted to one share and to unattended runs.

What changes from fsspec's ``SMBFileSystem``: paths are relative to the configured share (``backup_dir`` is a
folder inside it); connections live in a cache private to the storage (smbclient's global pool would mix
sessions of two storages on one server); listings come from one directory query instead of a ``stat`` per file;
renames replace the target; transfers stream in 1 MiB blocks; and every wait is bounded: smbprotocol waits up
to 10 minutes for an answer and blocks forever on a full send buffer, here both are cut at ``timeout``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import stat
from typing import Any

import smbclient
import smbprotocol.exceptions as smb_errors
from fsspec import AbstractFileSystem
from fsspec.implementations.smb import SMBFileSystem
from smbclient._io import SMBFileTransaction, SMBRawIO, set_info
from smbprotocol.file_info import FileRenameInformation
from smbprotocol.header import NtStatus
from smbprotocol.open import CreateOptions, FilePipePrinterAccessMask

from corral import RemoteFileSystem, Retry, ServerBusy
from corral_storage_smb.options import SMBOptions

BLOCK = 1 << 20
log = logging.getLogger("corral")


class _LibraryLog(logging.Handler):
    """smbprotocol's own warnings and errors, into corral's log at DEBUG, each one line.

    Without a handler of their own they went to Python's last-resort handler, on stderr: a connection that
    timed out printed smbprotocol's "SMB receive worker died" with two tracebacks, mailed by cron beside the
    storage's own one-line error (which says the same)."""

    def emit(self, record: logging.LogRecord) -> None:
        cause = record.exc_info[1] if record.exc_info else None
        said = str(cause).strip().splitlines()[:1] if cause is not None else []
        detail = f" ({': '.join([type(cause).__name__, *said])})" if cause is not None else ""
        log.debug("%s: %s%s", record.name, record.getMessage(), detail)


for _name in ("smbprotocol", "smbclient", "spnego"):
    logging.getLogger(_name).addHandler(_LibraryLog(logging.WARNING))  # its packet-level DEBUG stays out
    logging.getLogger(_name).propagate = False


class ShareNotFound(FileNotFoundError):
    """The server has no share of the configured name (or hides it from this user)."""


class BackupSMBFileSystem(SMBFileSystem):
    """One share on one server; paths are ``/folder/file`` inside the share."""

    # fsspec's instance cache keys on the arguments, where a SecretStr password reads `**********`: a second
    # storage with another password would get the first one's logged-in instance
    cachable = False
    streams = True  # a file opened `wb` sends each write as it comes, FLUSHed at the end (see StreamedWrite)

    def __init__(self, options: SMBOptions) -> None:
        self.options = options
        self._connections: dict[str, Any] = {}
        username = f"{options.domain}\\{options.user}" if options.domain else options.user
        super().__init__(
            options.host, port=options.port, username=username, password=options.password.get_secret_value(),
            timeout=options.timeout, encrypt=options.encrypt, register_session_retries=-1, skip_instance_cache=True,
        )  # fmt: skip
        try:
            self.info("/")  # logs in and connects the share now: a wrong password or share fails the storage here
        except smb_errors.SMBOSError as exc:
            if exc.errno == errno.ENOENT:
                raise ShareNotFound(errno.ENOENT, options.share) from None
            raise

    @property
    def _kw(self) -> dict[str, Any]:
        self._bound_waits()
        return {
            "port": self._port, "username": self.username, "password": self.password, "encrypt": self.encrypt,
            "connection_timeout": self.timeout, "connection_cache": self._connections,
        }  # fmt: skip

    def _bound_waits(self) -> None:
        """Log in (or reuse the session) and cut smbprotocol's waits to ``timeout`` on its current connection."""
        session = smbclient.register_session(
            self.host, username=self.username, password=self.password, port=self._port, encrypt=self.encrypt,
            connection_timeout=self.timeout, connection_cache=self._connections,
        )  # fmt: skip
        connection = session.connection
        if getattr(connection, "_corral_bounded", False):
            return
        # no answer for `timeout` -> echo; no answer to the echo either -> the connection is declared dead
        connection._receive_timeout = max(self.timeout / 2, 1)
        sock = getattr(connection.transport, "_sock", None)
        if sock is not None:
            sock.settimeout(self.timeout)  # a send that cannot progress fails instead of blocking forever
        connection._corral_bounded = True

    def _unc(self, path: str) -> str:
        parts = [part for part in str(path).split("/") if part]
        return "\\".join([f"\\\\{self.host}", self.options.share, *parts])

    @staticmethod
    def _name(path: str) -> str:
        return "/" + "/".join(part for part in str(path).split("/") if part)

    def close(self) -> None:
        """Drop the connections without logging off: a dead server would never answer the logoff."""
        for connection in list(self._connections.values()):
            with contextlib.suppress(Exception):  # already dead
                connection.disconnect(close=False)
        self._connections.clear()

    # ------------------------------------------------------------------------------------------ reads

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        found = smbclient.stat(self._unc(path), **self._kw)
        kind = "directory" if stat.S_ISDIR(found.st_mode) else "file"
        return {"name": self._name(path), "size": 0 if kind == "directory" else found.st_size, "type": kind}

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        folder = self._name(path)
        entries = []
        with smbclient.scandir(self._unc(path), **self._kw) as listing:
            for entry in listing:
                if entry.name in (".", ".."):
                    continue
                is_dir = entry.is_dir()
                entries.append({
                    "name": f"{folder.rstrip('/')}/{entry.name}", "type": "directory" if is_dir else "file",
                    "size": 0 if is_dir else entry.smb_info.end_of_file,
                })  # fmt: skip
        return entries if detail else [entry["name"] for entry in entries]

    def get_file(self, rpath: str, lpath: str, callback: Any = None, outfile: Any = None, **kwargs: Any) -> None:
        with smbclient.open_file(self._unc(rpath), "rb", buffering=0, **self._kw) as source, \
                open(lpath, "wb") as target:
            while block := source.read(BLOCK):
                target.write(block)

    # ----------------------------------------------------------------------------------------- writes

    def put_file(self, lpath: str, rpath: str, callback: Any = None, **kwargs: Any) -> None:
        """Streams the file in 1 MiB writes; a raw SMB write may take less than it is given, hence the loop.

        Ends with an SMB2 FLUSH (smbclient's close sends none), on which Samba fsyncs (`strict sync`, its default)
        and Windows flushes: the bytes are on the server's disk before the core renames the file.
        """
        with open(lpath, "rb") as source, \
                smbclient.open_file(self._unc(rpath), "wb", buffering=0, **self._kw) as target:
            while block := source.read(BLOCK):
                view = memoryview(block)
                while view:
                    view = view[target.write(view):]
            target.flush()

    def _open(self, path: str, mode: str = "rb", block_size: int | None = None, autocommit: bool = True,
              cache_options: Any = None, **kwargs: Any) -> Any:
        if mode == "wb":
            return StreamedWrite(smbclient.open_file(self._unc(path), "wb", buffering=0, **self._kw))
        return smbclient.open_file(self._unc(path), mode, **self._kw)

    def mv(self, path1: str, path2: str, recursive: bool | None = None, maxdepth: int | None = None,
           **kwargs: Any) -> None:
        """One atomic rename that replaces ``path2`` (FileRenameInformation with ReplaceIfExists).

        Not ``smbclient.replace``: it first opens the target for FILE_EXECUTE, which Samba refuses on a file
        without the x bit (STATUS_ACCESS_DENIED), so it cannot replace an existing archive there.
        """
        access = FilePipePrinterAccessMask.DELETE | FilePipePrinterAccessMask.FILE_READ_ATTRIBUTES
        with SMBRawIO(self._unc(path1), mode="r", share_access="rwd", desired_access=access,
                      create_options=CreateOptions.FILE_OPEN_REPARSE_POINT, **self._kw) as source, \
                SMBFileTransaction(source) as transaction:
            rename = FileRenameInformation()
            rename["replace_if_exists"] = True
            rename["file_name"] = "\\".join(part for part in path2.split("/") if part)  # relative to the share
            set_info(transaction, rename)

    def rm_file(self, path: str) -> None:
        smbclient.remove(self._unc(path), **self._kw)

    def _rm(self, path: str) -> None:
        self.rm_file(path)

    def rmdir(self, path: str) -> None:
        smbclient.rmdir(self._unc(path), **self._kw)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        if self._name(path) != "/":
            smbclient.makedirs(self._unc(path), exist_ok=exist_ok, **self._kw)

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        if create_parents:
            self.makedirs(path, exist_ok=True)
        else:
            smbclient.mkdir(self._unc(path), **self._kw)


class StreamedWrite:
    """A file opened ``wb``: each write goes out as SMB2 WRITEs at once (a raw write may take less than it is
    given, hence the loop), ``fsync`` is an SMB2 FLUSH (Samba fsyncs on it, Windows flushes). Memory: the chunk
    being written. Every wait is bounded by ``timeout`` (see ``_bound_waits``)."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            view = view[self.raw.write(view):]
        return len(data)

    def flush(self) -> None:
        pass  # nothing is buffered here

    def fsync(self) -> None:
        self.raw.flush()

    def close(self) -> None:
        self.raw.close()

    @property
    def closed(self) -> bool:
        return bool(self.raw.closed)

    def __enter__(self) -> StreamedWrite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_BY_ERRNO: dict[int, type[OSError]] = {
    errno.ENOENT: FileNotFoundError, errno.EEXIST: FileExistsError, errno.EACCES: PermissionError,
    errno.EPERM: PermissionError, errno.EISDIR: IsADirectoryError, errno.ENOTDIR: NotADirectoryError,
}  # fmt: skip
_AUTH = (NtStatus.STATUS_LOGON_FAILURE, NtStatus.STATUS_WRONG_PASSWORD, NtStatus.STATUS_PASSWORD_EXPIRED)
_BUSY = (NtStatus.STATUS_INSUFF_SERVER_RESOURCES, NtStatus.STATUS_SERVER_UNAVAILABLE,
         NtStatus.STATUS_REQUEST_NOT_ACCEPTED, NtStatus.STATUS_INSUFFICIENT_RESOURCES)  # fmt: skip
#: the server ended the session or the connection under an open file: another connection may do
_GONE = (NtStatus.STATUS_USER_SESSION_DELETED, NtStatus.STATUS_NETWORK_NAME_DELETED, NtStatus.STATUS_PIPE_BROKEN,
         NtStatus.STATUS_FILE_CLOSED)  # fmt: skip


def _status(exc: BaseException) -> int | None:
    """The NTSTATUS of an SMB refusal: smbprotocol raises it as an ``SMBResponseException`` subclass, smbclient
    wraps the same status in an ``SMBOSError`` (whose errno is 0 for most: access denied, disk full...)."""
    if isinstance(exc, smb_errors.SMBOSError):
        return int(exc.ntstatus)
    if isinstance(exc, smb_errors.SMBResponseException):
        return int(exc.status)
    return None


def translate(exc: BaseException, action: str, options: SMBOptions) -> OSError | None:
    """smbprotocol's errors (NTSTATUS codes, dead connections, its ValueError for refused connections)."""
    who = f"{options.domain}\\{options.user}" if options.domain else options.user
    timed_out = TimeoutError(errno.ETIMEDOUT, f"no answer within {options.timeout:g} s (timed out)")
    status = _status(exc)
    if status in _AUTH or isinstance(exc, smb_errors.SMBAuthenticationError):
        return PermissionError(errno.EACCES, f"authentication failed for user `{who}` (check `user`, `password`, "
                               "`domain`)")
    if status == NtStatus.STATUS_BAD_NETWORK_NAME or isinstance(exc, ShareNotFound):
        return FileNotFoundError(errno.ENOENT, f"the server has no share `{options.share}`")
    if status == NtStatus.STATUS_ACCESS_DENIED:
        return PermissionError(errno.EACCES, "access denied")
    if status == NtStatus.STATUS_DISK_FULL:
        return OSError(errno.ENOSPC, "no space left on the share")
    if status == NtStatus.STATUS_IO_TIMEOUT:
        return timed_out
    if status in _BUSY:
        return ServerBusy(errno.EAGAIN, f"the server is busy ({type(exc).__name__})")
    if status in _GONE or isinstance(exc, smb_errors.SMBConnectionClosed):
        return ConnectionResetError(errno.ECONNRESET, "connection lost")
    if isinstance(exc, smb_errors.SMBOSError) and exc.errno:
        kind = _BY_ERRNO.get(exc.errno, OSError)
        return kind(exc.errno, (exc.strerror or "error").lower() if kind is not OSError else exc.strerror)
    if isinstance(exc, TimeoutError) or (isinstance(exc, smb_errors.SMBException) and "timeout" in str(exc).lower()):
        return timed_out
    if isinstance(exc, ValueError) and str(exc).startswith("Failed to connect"):
        cause = exc.__cause__
        if isinstance(cause, TimeoutError):
            return timed_out
        if isinstance(cause, ConnectionRefusedError):
            return ConnectionRefusedError(errno.ECONNREFUSED, "connection refused")
        return ConnectionError(errno.EHOSTUNREACH, f"cannot connect ({cause})")
    if status is not None:
        said = exc.strerror if isinstance(exc, smb_errors.SMBOSError) else type(exc).__name__
        return OSError(errno.EIO, f"the server said {said} (NTSTATUS 0x{status:08x})")
    return None  # a socket's own error: corral.remote classifies it (a send on a socket closed under it: EBADF)


def open_filesystem(options: SMBOptions) -> RemoteFileSystem:
    """A logged-in SMB filesystem on one share; reconnects by itself after a transient error."""

    def connect() -> AbstractFileSystem:
        return BackupSMBFileSystem(options)

    def close(fs: AbstractFileSystem) -> None:
        assert isinstance(fs, BackupSMBFileSystem)
        fs.close()

    return RemoteFileSystem(
        connect,
        label=f"smb://{options.user}@{options.host}:{options.port}/{options.share}",
        translate=lambda exc, action: translate(exc, action, options),
        retry=Retry(attempts=options.retries + 1),
        secrets=[options.password.get_secret_value()],
        close=close,
    )
