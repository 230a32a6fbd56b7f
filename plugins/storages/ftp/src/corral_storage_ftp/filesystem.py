"""FTP and explicit FTPS through fsspec's ftp filesystem, fixed where backups need it.

fsspec's FTP filesystem lists with MLSD or a plain ``LIST`` (which hides dot files on vsftpd and others, so the
hidden temp file of an upload would be invisible, even to the size check after the upload), uploads through a
buffered file that sends one ``STOR`` with ``REST`` per 64 KiB block, and keeps transaction temp files in the
server's ``/tmp``. Here: ``LIST -a``, ``SIZE`` for sizes, one streamed ``STOR`` per upload, temp files beside
their target, verified TLS certificates, and permissions set with ``SITE CHMOD`` where the server allows it.
"""

from __future__ import annotations

import contextlib
import errno
import ftplib
import io
import posixpath
import ssl
from typing import Any

from fsspec import AbstractFileSystem
from fsspec.implementations.ftp import FTPFile, FTPFileSystem, _mlsd2

from corral import ModeRefusal, RemoteFileSystem, Retry, ServerBusy
from corral_storage_ftp.options import FTPOptions

TRANSFER_BLOCK = 1 << 20


class BackupFTPFileSystem(FTPFileSystem):
    """One FTP(S) control connection; every call is a blocking command bounded by ``timeout``."""

    # fsspec's instance cache keys on the arguments, where a SecretStr password reads `**********`: a second
    # storage with another password would get the first one's logged-in instance
    cachable = False
    posix_modes = True  # see corral.storage_defaults; best effort: `SITE CHMOD` is an extension servers may refuse
    streams = True  # a file opened `wb` is one STOR fed as the bytes come (see StreamedSTOR)

    def __init__(self, options: FTPOptions) -> None:
        self.options = options
        self._mlsd_works: bool | None = None
        scheme = "ftps" if options.tls else "ftp"
        self.mode_refusal = ModeRefusal(f"{scheme}://{options.user}@{options.host}:{options.port}")
        super().__init__(
            options.host, port=options.port, username=options.user, password=options.password.get_secret_value(),
            timeout=options.timeout, tls=options.tls, block_size=TRANSFER_BLOCK, skip_instance_cache=True,
        )  # fmt: skip

    def _connect(self) -> None:
        if self.options.tls:
            context = ssl.create_default_context(cafile=self.options.ca_file)
            if not self.options.tls_verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self.ftp: ftplib.FTP = ftplib.FTP_TLS(context=context, timeout=self.timeout, encoding=self.encoding)
        else:
            self.ftp = ftplib.FTP(timeout=self.timeout, encoding=self.encoding)
        self.ftp.connect(self.host, self.port)
        self.ftp.login(*self.cred)  # FTP_TLS sends AUTH TLS first, so the password travels encrypted
        if isinstance(self.ftp, ftplib.FTP_TLS):
            self.ftp.prot_p()
        self.ftp.set_pasv(self.options.passive)
        self.ftp.voidcmd("TYPE I")

    def __del__(self) -> None:
        ftp = self.__dict__.get("ftp")
        if ftp is not None:
            ftp.close()

    # ---------------------------------------------------------------------------------------- listing

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        entries = []
        for name, facts in self._listing(path):
            if name in (".", "..") or facts.get("type") in ("cdir", "pdir"):
                continue
            kind = "directory" if facts.get("type") == "dir" else "file"
            entries.append({
                "name": posixpath.join(path, name.lstrip("/")), "type": kind,
                "size": int(facts.get("size") or 0) if kind == "file" else 0,
            })  # fmt: skip
        return entries if detail else [entry["name"] for entry in entries]

    def _listing(self, path: str) -> list[tuple[str, dict[str, Any]]]:
        if self._mlsd_works is not False:
            try:
                listed = list(self.ftp.mlsd(path))
                self._mlsd_works = True
                return listed
            except ftplib.error_perm as exc:
                if self._mlsd_works or not str(exc).startswith(("500", "501", "502", "504")):
                    raise
                self._mlsd_works = False
        return _mlsd2(self.ftp, f"-a {path}")  # `LIST -a`: dot files too (our temp files are dot files)

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        if path == "/":
            return {"name": "/", "size": 0, "type": "directory"}
        try:
            return {"name": path, "size": self.ftp.size(path), "type": "file"}
        except ftplib.error_perm:
            pass  # a folder, a missing path, or no SIZE command: look in the parent's listing
        for entry in self.ls(self._parent(path)):
            if entry["name"] == path:
                return entry
        raise FileNotFoundError(errno.ENOENT, "no such file or folder", path)

    # ------------------------------------------------------------------------------------- transfers

    def put_file(self, lpath: str, rpath: str, callback: Any = None, file_mode: int | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        """One streamed STOR: the file is read and sent block by block, never held in memory.

        With ``file_mode``, an empty file is stored and given its mode first, then the bytes are appended (APPE):
        no one can open the file before it has its mode. A server without ``SITE CHMOD`` gets the plain STOR.
        """
        rpath = self._strip_protocol(rpath)
        with open(lpath, "rb") as source:
            self.ftp.storbinary(f"{self._store_command(rpath, file_mode)} {rpath}", source, blocksize=TRANSFER_BLOCK)

    def _store_command(self, path: str, file_mode: int | None) -> str:
        """``STOR``; with ``file_mode``, an empty file given its mode first and ``APPE`` (see ``put_file``)."""
        if file_mode is not None and not self.mode_refusal.refused:
            self.ftp.storbinary(f"STOR {path}", io.BytesIO())
            if self._site_chmod(path, file_mode):
                return "APPE"
        return "STOR"

    def chmod(self, path: str, mode: int) -> None:
        if not self.mode_refusal.refused:
            self._site_chmod(self._strip_protocol(path), mode)

    def _site_chmod(self, path: str, mode: int) -> bool:
        """``SITE CHMOD``; a refusal (unknown command, not allowed) is said once and the upload goes on."""
        try:
            self.ftp.sendcmd(f"SITE CHMOD {mode:o} {path}")
        except ftplib.error_perm as exc:
            self.mode_refusal(_reply(exc))
            return False
        return True

    def get_file(self, rpath: str, lpath: str, callback: Any = None, outfile: Any = None, **kwargs: Any) -> None:
        rpath = self._strip_protocol(rpath)
        with open(lpath, "wb") as target:
            self.ftp.retrbinary(f"RETR {rpath}", target.write, blocksize=TRANSFER_BLOCK)

    def _open(self, path: str, mode: str = "rb", block_size: int | None = None, cache_options: Any = None,
              autocommit: bool = True, file_mode: int | None = None, **kwargs: Any) -> FTPFile | StreamedSTOR:
        path = self._strip_protocol(path)
        if mode == "wb" and autocommit:
            return StreamedSTOR(self, path, file_mode)
        return FTPFile(
            self, path, mode=mode, block_size=block_size or self.blocksize, autocommit=autocommit,
            cache_options=cache_options, tempdir=self._parent(path),  # a transaction's temp file: beside the target
        )  # fmt: skip

    # ------------------------------------------------------------------------------------- changes

    def mv(self, path1: str, path2: str, **kwargs: Any) -> None:
        """RNFR/RNTO, replacing ``path2``: most servers rename(2) over it; the others refuse and get a delete first."""
        source, target = self._strip_protocol(path1), self._strip_protocol(path2)
        try:
            self.ftp.rename(source, target)
        except ftplib.error_perm:
            if not self._is_file(target) or not self._is_file(source):
                raise
            self.ftp.delete(target)
            self.ftp.rename(source, target)

    def _is_file(self, path: str) -> bool:
        try:
            return self.info(path)["type"] == "file"
        except FileNotFoundError:
            return False

    def rm_file(self, path: str) -> None:
        self.ftp.delete(self._strip_protocol(path))

    def _rm(self, path: str) -> None:
        self.rm_file(path)

    def rmdir(self, path: str) -> None:
        self.ftp.rmd(self._strip_protocol(path))

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        path = self._strip_protocol(path)
        parts = [part for part in path.split("/") if part]
        for depth in range(1, len(parts) + 1):
            folder = "/" + "/".join(parts[:depth])
            try:
                self.ftp.mkd(folder)
            except ftplib.error_perm:
                info = self._info_or_none(folder)
                if info is None or info["type"] != "directory":
                    raise
                if depth == len(parts) and not exist_ok:
                    raise FileExistsError(errno.EEXIST, "already exists", folder) from None

    def _info_or_none(self, path: str) -> dict[str, Any] | None:
        try:
            return self.info(path)
        except FileNotFoundError:
            return None

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        if create_parents:
            self.makedirs(path, exist_ok=True)
        else:
            self.ftp.mkd(self._strip_protocol(path))


class StreamedSTOR:
    """A file opened ``wb``: one ``STOR`` (or ``APPE`` after the mode, see ``put_file``) whose data connection
    takes each write as it comes; ``close`` ends the transfer and waits for the server's "226".

    The transfer has a control connection of its own (one more login): FTP answers nothing else on a connection
    until its transfer ended, and the storage's own connection stays free for listings and renames. Memory: the
    chunk being sent. Every send is bounded by ``timeout`` (the data socket's). FTP has no fsync: the bytes are
    the server's once it confirmed the transfer. After a failed send, the transfer's connection is closed
    without waiting for the server.
    """

    def __init__(self, fs: BackupFTPFileSystem, path: str, file_mode: int | None) -> None:
        self.own = BackupFTPFileSystem(fs.options)
        self.own.mode_refusal = fs.mode_refusal  # said once per storage, whichever connection heard it
        self.closed = False
        self.failed = False
        try:
            self.conn = self.own.ftp.transfercmd(f"{self.own._store_command(path, file_mode)} {path}")
        except BaseException:
            self.own.ftp.close()
            raise

    def write(self, data: bytes) -> int:
        try:
            self.conn.sendall(data)
        except BaseException:
            self.failed = True
            raise
        return len(data)

    def flush(self) -> None:
        pass  # every write went out whole

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            try:
                if isinstance(self.conn, ssl.SSLSocket) and not self.failed:
                    self.conn.unwrap()  # as ftplib's storbinary: a clean TLS end, or the server sees a broken one
            finally:
                self.conn.close()
            if not self.failed:
                self.own.ftp.voidresp()
        finally:
            with contextlib.suppress(Exception):
                self.own.ftp.close()

    def __enter__(self) -> StreamedSTOR:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reply(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def translate(exc: BaseException, action: str, options: FTPOptions) -> OSError | None:
    """ftplib's errors (a server reply, EOF, TLS) as builtin errors; 4xx replies are worth another try."""
    reply = _reply(exc)
    code = reply[:3]
    if isinstance(exc, ftplib.error_perm):
        if code == "530":
            if action == "connect":
                return PermissionError(errno.EACCES, f"authentication failed for user `{options.user}` ({reply})")
            return PermissionError(errno.EACCES, f"not logged in ({reply})")
        if code in ("552", "452"):
            return OSError(errno.ENOSPC, f"no space left on the server ({reply})")
        if code == "550" and action in ("look up", "download", "delete", "rename", "list"):
            return FileNotFoundError(errno.ENOENT, f"no such file or folder, or no permission ({reply})")
        if code in ("550", "553", "532"):
            return PermissionError(errno.EACCES, f"refused by the server ({reply})")
        return OSError(errno.EIO, f"the server said: {reply}")
    if isinstance(exc, ftplib.error_temp):
        if code == "452":
            return OSError(errno.ENOSPC, f"no space left on the server ({reply})")
        return ServerBusy(errno.EAGAIN, f"the server is busy or dropped the transfer ({reply})")
    if isinstance(exc, ftplib.error_reply | ftplib.error_proto):
        return ConnectionError(errno.EPROTO, f"unexpected answer from the server ({reply})")
    if isinstance(exc, EOFError):
        return ConnectionResetError(errno.ECONNRESET, "connection closed by the server")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermissionError(
            errno.EACCES, f"TLS certificate of {options.host} not trusted ({exc.verify_message}); "
            "set `ca_file`, or `tls_verify: no` to skip the check",
        )  # fmt: skip
    if isinstance(exc, ssl.SSLError):
        return ConnectionError(errno.EPROTO, f"TLS failed ({exc.reason or reply})")
    if isinstance(exc, TimeoutError):
        return TimeoutError(errno.ETIMEDOUT, f"no answer within {options.timeout:g} s (timed out)")
    return None


def open_filesystem(options: FTPOptions) -> RemoteFileSystem:
    """A logged-in FTP filesystem for one storage; reconnects by itself after a transient error."""

    def connect() -> AbstractFileSystem:
        return BackupFTPFileSystem(options)

    def close(fs: AbstractFileSystem) -> None:
        assert isinstance(fs, BackupFTPFileSystem)
        fs.ftp.close()

    scheme = "ftps" if options.tls else "ftp"
    return RemoteFileSystem(
        connect,
        label=f"{scheme}://{options.user}@{options.host}:{options.port}",
        translate=lambda exc, action: translate(exc, action, options),
        retry=Retry(attempts=options.retries + 1),
        secrets=[options.password.get_secret_value()],
        close=close,
    )

