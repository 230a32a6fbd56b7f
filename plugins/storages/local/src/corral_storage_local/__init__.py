"""The ``local`` storage: a folder on this server.

Remote storages go through fsspec; this one only needs a handful of ``os`` calls, and importing fsspec (it pulls
in asyncio) cost 55 ms of corral's ~0.5 s start-up here, on every run. :class:`LocalFolder` therefore offers
the few fsspec methods the core's default storage hooks call, with fsspec's local semantics.

Durability, as restic and pgBackRest do it: the archive's bytes are fsync'd before the rename that gives it its
final name, and the folder after it (and a new folder's parent after its creation), so that after a power loss
a backup under its final name is complete.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import threading
from collections.abc import Callable
from typing import IO, Any

from corral import StorageOptions, hookimpl
from corral.config.models import StorageConfig


class LocalOptions(StorageOptions):
    """``local`` has no keys beyond ``backup_dir`` and ``store``."""


@hookimpl
def corral_storage_schema() -> type[StorageOptions]:
    return LocalOptions


@hookimpl
def corral_storage_filesystem(config: StorageConfig) -> LocalFolder:
    return LocalFolder()


#: link(2) errors that mean "copy instead": another filesystem, links refused or too many of them
_NO_LINK = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP)
#: held from a hard link to its chmod: the storages of a job store one archive from threads of one process
_LINKING = threading.Lock()


class LocalFolder:
    """The subset of fsspec's filesystem API the core's storage hooks use, on local paths.

    A put is a hard link when the archive is on the same filesystem (no second copy of a large archive), a
    copy otherwise; the core still writes to a hidden temporary name and renames it, so the all-or-nothing
    rule holds.
    """

    posix_modes = True  # the core creates folders with `dir_mode` and puts files with `file_mode`

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        os.makedirs(path, exist_ok=exist_ok)

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        found = os.stat(path)
        return {"name": path, "size": found.st_size, "type": "directory" if stat.S_ISDIR(found.st_mode) else "file"}

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """A new folder, private until the core gives it ``dir_mode``; its name is made durable in its parent."""
        if create_parents:
            os.makedirs(path, mode=0o700, exist_ok=True)
        else:
            os.mkdir(path, 0o700)
        sync_folder(os.path.dirname(path))

    def chmod(self, path: str, mode: int) -> None:
        os.chmod(path, mode)

    def put_file(self, lpath: str, rpath: str, callback: Any = None, file_mode: int | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        """``rpath`` gets the archive's bytes with ``file_mode`` (default: the archive's own), fsync'd.

        A hard link shares its inode, hence its mode, with the archive and with every other storage of the job
        that linked it: its mode is changed only while no other storage holds it; otherwise it is copied.
        """
        with _LINKING:
            try:
                os.link(lpath, rpath)
            except OSError as exc:
                if exc.errno not in _NO_LINK:
                    raise
            else:
                if _sync_link(rpath, file_mode):
                    return
                os.unlink(rpath)  # shared with another storage that wants another mode
        _copy(lpath, rpath, file_mode if file_mode is not None else stat.S_IMODE(os.stat(lpath).st_mode))

    def get_file(self, rpath: str, lpath: str, callback: Any = None, **kwargs: Any) -> None:
        shutil.copyfile(rpath, lpath)

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> IO[Any]:
        return open(path, mode)  # the caller closes it, as with fsspec

    def size(self, path: str) -> int:
        return os.stat(path).st_size

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def mv(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Rename, then fsync the folder: the new name survives a power loss (the bytes were fsync'd before)."""
        os.replace(path1, path2)
        sync_folder(os.path.dirname(path2))

    def rm_file(self, path: str) -> None:
        os.unlink(path)

    def find(self, path: str, detail: bool = False, on_error: str = "omit", **kwargs: Any) -> Any:
        """Every file under ``path``; a folder that cannot be read raises (fsspec's ``on_error="raise"``)."""
        if not os.path.exists(path):
            raise FileNotFoundError(errno.ENOENT, "no such folder", path)
        if not os.path.isdir(path):
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", path)
        raise_error: Callable[[OSError], None] | None = _reraise if on_error == "raise" else None
        found: dict[str, dict[str, Any]] = {}
        for folder, _dirs, files in os.walk(path, onerror=raise_error):
            for name in files:
                full = os.path.join(folder, name)
                try:
                    size = os.stat(full).st_size  # a link counts as what it points to, as in fsspec
                except FileNotFoundError:  # a dangling link
                    size = 0
                found[full] = {"name": full, "size": size, "type": "file", "islink": os.path.islink(full)}
        return found if detail else sorted(found)


def _reraise(error: OSError) -> None:
    raise error


def _sync_link(path: str, file_mode: int | None) -> bool:
    """Give a fresh hard link ``file_mode`` and fsync it; False when another storage shares a different mode."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        found = os.fstat(fd)
        if file_mode is not None and stat.S_IMODE(found.st_mode) != file_mode:
            if found.st_nlink > 2:  # the archive in the work folder, this link, and another storage's
                return False
            os.fchmod(fd, file_mode)
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def _copy(source: str, target: str, mode: int) -> None:
    """Copy in the kernel (sendfile) into a new file that has ``mode`` before its first byte; fsync it."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have taken bits of `mode` away
        with open(source, "rb") as archive:
            size, offset = os.fstat(archive.fileno()).st_size, 0
            while offset < size:
                sent = os.sendfile(fd, archive.fileno(), offset, min(size - offset, 1 << 30))
                if sent == 0:
                    raise OSError(errno.EIO, f"`{source}` shrank while it was copied")
                offset += sent
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_folder(path: str) -> None:
    """fsync a folder, so that the names it holds survive a power loss (some filesystems cannot: ignored)."""
    fd = os.open(path or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)
