"""An fsspec filesystem over the userspace NFS client nfs-rs: an NFS export without a kernel mount.

Paths are absolute inside the export (``/backups/job/x.tar``; ``/`` is the export's root). What the core needs
is here: info/ls/find, makedirs, streamed put_file/get_file with bounded memory, open for reading and writing,
rename (``mv``), rm_file. Writes are durable when a call returns (nfs-rs commits each one), so ``put_file``
followed by ``mv`` is the core's all-or-nothing upload.
"""

from __future__ import annotations

import io
import posixpath
from collections import deque
from contextlib import suppress
from typing import Any

import nfs_rs
from fsspec import AbstractFileSystem
from nfs_rs import FileType

from corral.storage_defaults import partial_name
from corral_storage_nfs.connection import Connection, is_transient
from corral_storage_nfs.options import NFSOptions

CHUNK = 8 * 1024 * 1024  # nfs-rs sends up to 8 WRITEs of max_write (1 MiB) at once per call, then commits
_TYPES = {FileType.FILE: "file", FileType.DIRECTORY: "directory", FileType.SYMLINK: "link"}


def _info(path: str, info: nfs_rs.FileInfo) -> dict[str, Any]:
    return {
        "name": path, "size": info.size, "type": _TYPES.get(info.type, "other"), "mode": info.mode,
        "uid": info.uid, "gid": info.gid, "mtime": info.mtime / 1e9,
    }  # fmt: skip


class NFSFileSystem(AbstractFileSystem):
    """One export of one NFS server; opening it connects (and fails there if the server is unreachable)."""

    protocol = "nfs"
    root_marker = "/"
    cachable = False  # one connection per storage and job, never shared between threads
    posix_modes = True  # see corral.storage_defaults: SETATTR gives folders and files the storage's modes
    streams = True  # a file opened `wb` writes as it goes, 8 MiB at a time (see StreamedFile)

    def __init__(self, options: NFSOptions, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.options = options
        self.connection = Connection(options)

    def close(self) -> None:
        """Release the NFS connection (the core calls this when the job is done with the storage)."""
        self.connection.close()

    def __del__(self) -> None:
        with suppress(Exception):
            self.connection.close()

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = str(path).removeprefix("nfs://")
        return "/" + path.strip("/")

    @staticmethod
    def _rel(path: str) -> str:
        """nfs-rs takes paths relative to the export."""
        return path.strip("/")

    def _run(self, operation: str, path: str, call: Any, *, retry: bool = True) -> Any:
        return self.connection.run(operation, self._rel(path), call, retry=retry)

    # ------------------------------------------------------------------------------------------ reading

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        if path == "/":  # nfs-rs cannot stat the export's root (ganesha answers NFS4ERR_BADNAME)
            return {"name": "/", "size": 0, "type": "directory"}
        return _info(path, self._run("stat", path, lambda c: c.stat(self._rel(path))))

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        try:
            entries = self._run("list", path, lambda c: list(c.scandir(self._rel(path) or ".")))
        except NotADirectoryError:
            entries = None
        if entries is None:
            listing = [self.info(path)]
        else:
            listing = [_info(posixpath.join(path, entry.name), entry.info) for entry in entries]
        return listing if detail else [item["name"] for item in listing]

    def find(self, path: str, maxdepth: int | None = None, withdirs: bool = False, detail: bool = False,
             **kwargs: Any) -> Any:  # fmt: skip
        """Every file below ``path``, one READDIR per folder; an error is raised, never a silently short list."""
        path = self._strip_protocol(path)
        try:
            top = self.info(path)
        except FileNotFoundError:
            return {} if detail else []
        found: dict[str, dict[str, Any]] = {}
        if top["type"] != "directory":
            found[path] = top
        else:
            if withdirs:
                found[path] = top
            queue = deque([(path, 1)])
            while queue:
                folder, depth = queue.popleft()
                for item in self.ls(folder, detail=True):
                    if item["type"] == "directory":
                        if withdirs:
                            found[item["name"]] = item
                        if maxdepth is None or depth < maxdepth:
                            queue.append((item["name"], depth + 1))
                    else:
                        found[item["name"]] = item
        names = sorted(found)
        return {name: found[name] for name in names} if detail else names

    def get_file(self, rpath: str, lpath: str, callback: Any = None, outfile: Any = None, **kwargs: Any) -> None:
        """Streams in 8 MiB chunks; retried from the start on a transient failure (reading is harmless)."""
        rpath = self._strip_protocol(rpath)

        def fetch(client: nfs_rs.Client) -> None:
            buffer = bytearray(CHUNK)
            with client.open(self._rel(rpath), "rb") as remote, open(lpath, "wb") as local:
                while count := remote.readinto(buffer):
                    local.write(memoryview(buffer)[:count])

        self._run("read", rpath, fetch)

    # ------------------------------------------------------------------------------------------ writing

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        path = self._strip_protocol(path)
        if path == "/":
            return
        retry = exist_ok  # creating an existing folder again is harmless only when that is allowed
        self._run("mkdir", path, lambda c: c.mkdir(self._rel(path), parents=True, exist_ok=exist_ok), retry=retry)

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """A new folder is private (0700) until the core gives it the storage's ``dir_mode``."""
        path = self._strip_protocol(path)
        self._run("mkdir", path, lambda c: c.mkdir(self._rel(path), 0o700, parents=create_parents), retry=False)

    def chmod(self, path: str, mode: int) -> None:
        path = self._strip_protocol(path)
        self._run("chmod", path, lambda c: c.chmod(self._rel(path), mode))

    def put_file(self, lpath: str, rpath: str, callback: Any = None, mode: str = "overwrite",
                 file_mode: int | None = None, **kwargs: Any) -> None:  # fmt: skip
        """Streams in 8 MiB chunks (bounded memory); retried from the start on a transient failure.

        ``file_mode`` is set while the file is still empty: its bytes are never readable with another mode.
        """
        rpath = self._strip_protocol(rpath)

        def send(client: nfs_rs.Client) -> None:
            buffer = bytearray(CHUNK)
            with open(lpath, "rb") as local, client.open(self._rel(rpath), "wb") as remote:
                if file_mode is not None:
                    client.chmod(self._rel(rpath), file_mode)
                while count := local.readinto(buffer):
                    remote.write(memoryview(buffer)[:count])

        self._run("write", rpath, send)

    def mv(self, path1: str, path2: str, recursive: bool = False, maxdepth: int | None = None,
           **kwargs: Any) -> None:  # fmt: skip
        """One RENAME (atomic on the server, replacing ``path2``), never fsspec's copy-and-delete."""
        source, target = self._strip_protocol(path1), self._strip_protocol(path2)
        try:
            self._run("rename", source, lambda c: c.rename(self._rel(source), self._rel(target)), retry=False)
        except (TimeoutError, ConnectionError):
            # the rename may have happened before the answer was lost: look before trying again
            if self.exists(source) or not self.exists(target):
                self._run("rename", source, lambda c: c.rename(self._rel(source), self._rel(target)))

    rename = mv

    def rm_file(self, path: str) -> None:
        path = self._strip_protocol(path)
        try:
            self._run("remove", path, lambda c: c.unlink(self._rel(path)), retry=False)
        except (TimeoutError, ConnectionError):
            self._run("remove", path, lambda c: c.unlink(self._rel(path), missing_ok=True))

    def rmdir(self, path: str) -> None:
        path = self._strip_protocol(path)
        self._run("rmdir", path, lambda c: c.rmdir(self._rel(path)), retry=False)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        for one in [path] if isinstance(path, str) else path:
            if recursive and self.isdir(one):
                for name in reversed(self.find(one, withdirs=True)):
                    if self.isdir(name):
                        self.rmdir(name)
                    else:
                        self.rm_file(name)
            else:
                self.rm_file(one)

    def _rm(self, path: str) -> None:
        self.rm_file(path)

    def _open(self, path: str, mode: str = "rb", block_size: int | None = None, autocommit: bool = True,
              cache_options: Any = None, file_mode: int | None = None, **kwargs: Any) -> Any:  # fmt: skip
        path = self._strip_protocol(path)
        if mode not in {"rb", "wb"}:
            raise ValueError(f"NFS files open as `rb` or `wb`, not `{mode}`")
        if mode == "wb" and not autocommit:
            return DeferredFile(self, path, block_size or CHUNK)
        if mode == "wb":
            return StreamedFile(self, path, file_mode)
        raw = self._run("open", path, lambda c: c.open(self._rel(path), mode))
        buffered = io.BufferedReader if mode == "rb" else io.BufferedWriter
        return buffered(raw, block_size or CHUNK)


class StreamedFile:
    """A file opened ``wb`` (a stream's upload): ``file_mode`` is set while it is still empty, the bytes go out
    in writes of 8 MiB (nfs-rs pipelines their WRITEs), ``fsync`` is a COMMIT. Memory: one 8 MiB buffer.
    Every call is bounded by ``timeout`` and never retried (a stream cannot be sent twice); nfs-rs's errors
    become the storage's one-line errors.

    After a timeout or a lost connection nothing more is sent: closing neither flushes the buffer nor closes the
    file on the server, and the client is dropped unclosed (each would wait ``timeout`` again for a server that is
    gone); the next operation on the storage connects anew.
    """

    def __init__(self, fs: NFSFileSystem, path: str, file_mode: int | None) -> None:
        self.fs, self.path = fs, path
        self.raw = fs._run("open", path, lambda c: c.open(fs._rel(path), "wb"))
        self._pending = bytearray()
        self._gone: OSError | None = None  # why the server is taken for gone: it is never waited for again
        if file_mode is not None:
            fs._run("chmod", path, lambda c: c.chmod(fs._rel(path), file_mode))

    def _call(self, operation: str, call: Any, *args: Any) -> Any:
        if self._gone is not None:
            raise self._gone
        try:
            return call(*args)
        except nfs_rs.NfsError as exc:
            error = self.fs.connection.translate(exc, operation, self.fs._rel(self.path))
            if is_transient(exc):
                self._gone = error
                self.fs.connection.abandon()
            raise error from None

    def write(self, data: bytes) -> int:
        self._pending += data
        if len(self._pending) >= CHUNK:
            self._send()
        return len(data)

    def _send(self) -> None:
        with memoryview(self._pending) as view:
            sent = 0
            while sent < len(view):
                sent += int(self._call("write", self.raw.write, view[sent:]))
        self._pending.clear()

    def flush(self) -> None:
        self._send()

    def fsync(self) -> None:
        self._send()
        self._call("commit", self.raw.flush)

    def close(self) -> None:
        if self.raw.closed or self._gone is not None:
            self._pending.clear()
            return
        try:
            self._send()
        except OSError:
            if self._gone is None:  # a refusal (no space...): the server answers, the file is closed there
                with suppress(nfs_rs.NfsError):
                    self.raw.close()
            raise
        self._call("close", self.raw.close)

    @property
    def closed(self) -> bool:
        return bool(self.raw.closed or self._gone is not None)

    def __enter__(self) -> StreamedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DeferredFile(io.BufferedWriter):
    """A file written in a transaction: beside the target under a hidden name until ``commit`` renames it."""

    def __init__(self, fs: NFSFileSystem, path: str, buffer_size: int) -> None:
        self.fs, self.path = fs, path
        self.temp = partial_name(path)  # the core's: rotation recognises an orphan by this exact name
        raw = fs._run("open", self.temp, lambda c: c.open(fs._rel(self.temp), "wb"))
        super().__init__(raw, buffer_size)

    def commit(self) -> None:
        self.close()
        self.fs.mv(self.temp, self.path)

    def discard(self) -> None:
        with suppress(Exception):
            self.close()
        with suppress(FileNotFoundError):
            self.fs.rm_file(self.temp)
