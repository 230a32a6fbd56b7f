"""A wrapper that makes a remote fsspec filesystem fit for unattended backups.

Remote storage plugins wrap their filesystem in it (``corral.remote.RemoteFileSystem``). Why it exists: fsspec
filesystems raise their library's exceptions (some quote a URL with its password), keep using a connection that
died, and ``walk``/``find`` swallow errors so that a broken listing looks like an empty one. This wrapper delegates
the few operations corral's storage hooks use to the protocol's filesystem and

- retries transient failures (connection lost or refused, timeouts, "server busy") on a fresh connection with
  exponential backoff; authentication, permission and not-found failures are never retried (see
  :func:`is_transient`);
- raises builtin ``OSError`` subclasses whose one-line message names the server and the path, never a secret;
- lists without swallowing errors: a missing folder is an empty listing, anything else is an error.

The core's storage hooks (atomic put by temp name and rename, list, delete, get) run on it unchanged.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from fsspec import AbstractFileSystem

from corral import CorralError

log = logging.getLogger("corral")
T = TypeVar("T")

#: Failures that another attempt on a fresh connection may cure.
TRANSIENT: tuple[type[OSError], ...] = (ConnectionError, TimeoutError)

#: What a socket says once its connection is gone, when the library raises it as a plain ``OSError``. EBADF is one
#: of them: a client library whose reader thread saw the reset closes the socket, and a send racing with it (after
#: the library's own "still connected?" check) gets "Bad file descriptor" (smbprotocol does exactly this).
DEAD_CONNECTION = frozenset({
    errno.EBADF, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ENOTCONN, errno.ESHUTDOWN,
    errno.ETIMEDOUT, errno.ENETRESET, errno.ENETDOWN, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN,
})  # fmt: skip


def is_transient(error: BaseException) -> bool:
    """Whether another attempt on a fresh connection may succeed: a dead or refused connection, a timeout, a busy
    server. Never an authentication, permission, not-found or "no space" error."""
    return isinstance(error, TRANSIENT)


class ServerBusy(ConnectionError):
    """The server answered "try again later" (FTP 4xx, HTTP 503...): retried like a lost connection."""


class StorageClosed(OSError):
    """The job closed the storage (an upload outlived ``upload_timeout``): nothing may reconnect it."""


class ModeRefusal:
    """A server that will not set permissions (FTP without ``SITE CHMOD``, an SFTP server refusing ``setstat``).

    The archive matters more than its mode: it is stored with the server's own permissions, and the refusal is
    said once per connection, in one line. ``refused`` tells the filesystem to stop asking.
    """

    def __init__(self, who: str) -> None:
        self.who = who
        self.refused = False

    def __call__(self, reason: str) -> None:
        if not self.refused:
            self.refused = True
            log.warning("%s: the server refused to set permissions (%s); files keep the server's own", self.who,
                        reason)  # fmt: skip


@dataclass(frozen=True)
class Retry:
    """How often to try an operation and how long to wait in between (``first_wait``, then doubling)."""

    attempts: int = 3
    first_wait: float = 1.0
    max_wait: float = 30.0

    def waits(self) -> Iterator[float]:
        wait = self.first_wait
        for _ in range(self.attempts - 1):
            yield min(wait, self.max_wait)
            wait *= 2


#: Turns a library exception into a clean OSError (message without the server label), or None if unknown.
Translate = Callable[[BaseException, str], OSError | None]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def clean_error(exc: BaseException) -> OSError:
    """A builtin error of the same kind, for exceptions a translator did not recognise."""
    reason = _reason(exc)
    if isinstance(exc, FileNotFoundError):
        return FileNotFoundError(errno.ENOENT, "no such file or folder")
    if isinstance(exc, FileExistsError):
        return FileExistsError(errno.EEXIST, "already exists")
    if isinstance(exc, PermissionError):
        return PermissionError(errno.EACCES, f"permission denied ({reason})")
    if isinstance(exc, TimeoutError):
        return TimeoutError(errno.ETIMEDOUT, "no answer in time (timed out)")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectionRefusedError(errno.ECONNREFUSED, "connection refused")
    for kind in (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
        if isinstance(exc, kind):
            return kind(exc.errno or errno.ECONNABORTED, f"connection lost ({reason})")
    if isinstance(exc, ConnectionError | EOFError):
        return ConnectionError(errno.ECONNABORTED, f"connection lost ({reason})")
    if isinstance(exc, OSError) and exc.errno == errno.ETIMEDOUT:
        return TimeoutError(errno.ETIMEDOUT, "no answer in time (timed out)")
    if isinstance(exc, OSError) and exc.errno in DEAD_CONNECTION:
        return ConnectionResetError(exc.errno, f"connection lost ({reason})")
    if isinstance(exc, OSError) and exc.errno is not None:
        return OSError(exc.errno, reason)
    return OSError(f"{type(exc).__name__}: {reason}")


class RemoteFileSystem(AbstractFileSystem):
    """Delegates to the filesystem ``connect()`` returns; reconnects and retries on transient errors.

    ``label`` names the server in messages (``sftp://backup@host:22``); ``secrets`` are masked in any message
    that would still contain them; ``close`` releases a connection that is being replaced.
    """

    cachable = False  # never shared: every storage of every job gets its own connection
    protocol = "corral-remote"
    root_marker = "/"

    def __init__(
        self,
        connect: Callable[[], AbstractFileSystem],
        *,
        label: str,
        translate: Translate,
        retry: Retry,
        secrets: Iterable[str] = (),
        close: Callable[[AbstractFileSystem], None] | None = None,
    ) -> None:
        super().__init__()
        self.label = label
        self.retry = retry
        self._connect = connect
        self._translate = translate
        self._secrets = sorted((s for s in secrets if s), key=len, reverse=True)
        self._close = close
        self._inner: AbstractFileSystem | None = None
        self._closed = False
        self._posix_modes = False
        self._streams = False
        self._lock = threading.RLock()
        # connect now: a storage that cannot be reached fails when it is opened, with one clear line
        self._run("connect", "", lambda fs: None)

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        path = str(path)
        return path if path in ("", "/") else path.rstrip("/")

    # ------------------------------------------------------------------------------------------- plumbing

    @property
    def inner(self) -> AbstractFileSystem:
        """The protocol's filesystem on a live connection (opened on first use and after a transient error)."""
        with self._lock:
            if self._closed:  # an upload abandoned after upload_timeout must not reconnect behind the job's back
                raise StorageClosed(errno.EBADF, "the connection was closed at the end of the job")
            if self._inner is None:
                self._inner = self._connect()
                self._posix_modes = bool(getattr(self._inner, "posix_modes", False))
                self._streams = bool(getattr(self._inner, "streams", False))
            return self._inner

    @property
    def posix_modes(self) -> bool:
        """Whether the protocol's filesystem sets permissions (see :mod:`corral.storage_defaults`)."""
        return self._posix_modes

    @property
    def streams(self) -> bool:
        """Whether the protocol's filesystem writes a file opened ``wb`` as it goes, with bounded memory (see
        :func:`corral.storage_defaults.corral_storage_open_upload`)."""
        return self._streams

    def drop_connection(self) -> None:
        """Forget the current connection; the next operation opens a new one."""
        with self._lock:
            inner, self._inner = self._inner, None
        if inner is not None and self._close is not None:
            try:
                self._close(inner)
            except Exception as exc:  # closing a dead connection may fail in many ways; it is gone either way
                log.debug("%s: closing a dead connection failed: %s", self.label, type(exc).__name__)

    def close(self) -> None:
        """Close for good: the job is done with this storage."""
        with self._lock:
            self._closed = True
        self.drop_connection()

    def clean(self, exc: BaseException, action: str, path: str = "") -> OSError:
        """The one-line builtin error this filesystem raises for the library's ``exc`` (retried if transient)."""
        error = exc if isinstance(exc, StorageClosed) else self._translate(exc, action) or clean_error(exc)
        where = f" `{path}`" if path else ""
        text = error.strerror or (str(error.args[0]) if error.args else type(exc).__name__)
        message = f"{self.label}: cannot {action}{where}: {text}"
        for secret in self._secrets:
            message = message.replace(secret, "***")
        clean = type(error)(message)  # one argument: str() is the message alone, without "[Errno N]"
        clean.errno = error.errno
        return clean

    def _run(
        self,
        action: str,
        path: str,
        operation: Callable[[AbstractFileSystem], T],
        retry_check: Callable[[AbstractFileSystem, OSError], T | None] | None = None,
    ) -> T:
        """Run ``operation`` on the live connection; retry transient errors on a fresh one.

        ``retry_check`` runs when a later attempt fails with a non-transient error: an operation whose first
        attempt may have completed on the server (a rename) returns its result from it instead of failing.
        """
        waits = self.retry.waits()
        attempt = 1
        while True:
            try:
                return operation(self.inner)
            except CorralError:
                raise  # corral's own signals (SIGTERM's Interrupted) pass through untouched
            except Exception as exc:
                error = self.clean(exc, action, path)
                if attempt > 1 and retry_check is not None and not is_transient(error):
                    try:
                        result = retry_check(self.inner, error)
                    except Exception:
                        result = None
                    if result is not None:
                        return result
                wait = next(waits, None)
                if isinstance(exc, StorageClosed) or self._closed or not is_transient(error) or wait is None:
                    raise error from None  # (closed: the job is over, an abandoned transfer just noticed)
                log.warning(
                    "%s; retrying in %.0f s (attempt %d of %d)",
                    error.strerror or error,
                    wait,
                    attempt + 1,
                    self.retry.attempts,
                )
                self.drop_connection()
                time.sleep(wait)
                attempt += 1

    # ------------------------------------------------------------------------------ what the hooks use

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        entries = self._run("list", path, lambda fs: fs.ls(path, detail=True))
        return entries if detail else [entry["name"] for entry in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        return self._run("look up", path, lambda fs: fs.info(path))

    def find(
        self, path: str, maxdepth: int | None = None, withdirs: bool = False, detail: bool = False, **kwargs: Any
    ) -> Any:
        """Every file below ``path``: one listing per folder, a missing ``path`` is empty, other errors raise."""
        root = self._strip_protocol(path)
        found: dict[str, dict[str, Any]] = {}
        pending: list[tuple[str, int]] = [(root, 1)]
        while pending:
            folder, depth = pending.pop()
            try:
                entries = self.ls(folder, detail=True)
            except FileNotFoundError:
                continue  # the root does not exist yet, or a folder vanished while we listed
            for entry in entries:
                name = entry["name"].rstrip("/")
                if name == folder:  # some servers list a file when asked for its "folder"
                    found[name] = entry
                elif entry.get("type") == "directory":
                    if withdirs:
                        found[name] = entry
                    if maxdepth is None or depth < maxdepth:
                        pending.append((name, depth + 1))
                else:
                    found[name] = entry
        return found if detail else sorted(found)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        path = self._strip_protocol(path)
        self._run("create folder", path, lambda fs: fs.makedirs(path, exist_ok=exist_ok))

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        path = self._strip_protocol(path)
        self._run("create folder", path, lambda fs: fs.mkdir(path, create_parents=create_parents))

    def put_file(self, lpath: Any, rpath: str, callback: Any = None, file_mode: int | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        """Upload; ``file_mode`` is handed on to a filesystem with ``posix_modes`` only."""
        rpath = self._strip_protocol(rpath)
        extra = {"file_mode": file_mode} if file_mode is not None and self.posix_modes else {}
        self._run("upload to", rpath, lambda fs: fs.put_file(str(lpath), rpath, **extra))

    def chmod(self, path: str, mode: int) -> None:
        path = self._strip_protocol(path)
        self._run("set the permissions of", path, lambda fs: fs.chmod(path, mode))

    def get_file(self, rpath: str, lpath: Any, callback: Any = None, outfile: Any = None, **kwargs: Any) -> None:
        rpath = self._strip_protocol(rpath)
        self._run("download", rpath, lambda fs: fs.get_file(rpath, str(lpath)))

    def mv(self, path1: str, path2: str, recursive: bool = False, maxdepth: int | None = None, **kwargs: Any) -> None:
        """Rename one file, replacing ``path2``; a retry whose first attempt already renamed it succeeds."""
        source, target = self._strip_protocol(path1), self._strip_protocol(path2)

        def already_done(fs: AbstractFileSystem, error: OSError) -> bool | None:
            return True if isinstance(error, FileNotFoundError) and fs.exists(target) else None

        self._run("rename", source, lambda fs: fs.mv(source, target), retry_check=already_done)

    def rm_file(self, path: str) -> None:
        path = self._strip_protocol(path)

        def already_gone(fs: AbstractFileSystem, error: OSError) -> bool | None:
            return True if isinstance(error, FileNotFoundError) else None

        self._run("delete", path, lambda fs: fs.rm_file(path), retry_check=already_gone)

    def _rm(self, path: str) -> None:
        self.rm_file(path)

    def rmdir(self, path: str) -> None:
        path = self._strip_protocol(path)
        self._run("delete folder", path, lambda fs: fs.rmdir(path))

    def _open(self, path: str, mode: str = "rb", file_mode: int | None = None, **kwargs: Any) -> Any:
        """Opening is retried like any operation; a file opened for writing is a :class:`RemoteWriter` (its
        writes cannot be retried: the bytes already sent are gone). ``file_mode`` as for ``put_file``."""
        path = self._strip_protocol(path)
        if file_mode is not None and self.posix_modes:
            kwargs["file_mode"] = file_mode
        file = self._run("open", path, lambda fs: fs.open(path, mode, **kwargs))
        return file if "r" in mode else RemoteWriter(self, file, path)


class RemoteWriter:
    """A remote file being written: the protocol's errors become the filesystem's one-line errors (see
    :meth:`RemoteFileSystem.clean`); never retried, a stream cannot be sent twice.

    ``fsync`` makes the bytes durable on the server where the protocol's file can (its own ``fsync``: an SMB2
    FLUSH, an NFS COMMIT); elsewhere it does nothing. No ``fileno``: the file is not local.
    """

    def __init__(self, fs: RemoteFileSystem, file: Any, path: str) -> None:
        self.fs, self.file, self.path = fs, file, path

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self.file, method)(*args)
        except CorralError:
            raise
        except Exception as exc:
            error = self.fs.clean(exc, "upload to", self.path)
            if is_transient(error):  # the connection is gone: the next operation (removing the temp) opens another
                self.fs.drop_connection()
            raise error from None

    def write(self, data: bytes) -> int:
        self._call("write", data)
        return len(data)

    def flush(self) -> None:
        self._call("flush")

    def fsync(self) -> None:
        if callable(getattr(self.file, "fsync", None)):
            self._call("fsync")

    def close(self) -> None:
        self._call("close")

    @property
    def closed(self) -> bool:
        return bool(getattr(self.file, "closed", False))

    def __enter__(self) -> RemoteWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
