"""The ``local`` storage: a folder on this server.

Remote storages go through fsspec; this one only needs a handful of ``os`` calls, and importing fsspec (it pulls
in asyncio) cost 55 ms of corral's ~0.5 s start-up here, on every run. :class:`LocalFolder` therefore offers
the few fsspec methods the core's default storage hooks call, with fsspec's local semantics.

Durability, as restic and pgBackRest do it: the archive's bytes are fsync'd before the rename that gives it its
final name, and the folder after it (and a new folder's parent after its creation), so that after a power loss
a backup under its final name is complete.

Links: below ``backup_dir`` every folder is opened without following a symbolic link, and files are created,
renamed, read and deleted relative to that open folder. Another user who can write into the backup folder (a
shared place) cannot plant ``<backup_dir>/<job>`` or ``<job>/<target>`` as a link that would send an archive,
a rotation's deletion or a read elsewhere, nor swap a folder for a link between corral's listing and its use.
``backup_dir`` itself (and the way to it) is the admin's and may be a link; it must belong to root or the
running user, and the folders and links on the way to it too, writable by nobody else (a sticky one excepted).
"""

from __future__ import annotations

import errno
import os
import pwd
import shutil
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from pydantic import Field, field_validator

from corral import StorageConfig, StorageError, StorageOptions, hookimpl
from corral.workarea import UnsafePath, check_way


class LocalOptions(StorageOptions):
    """``local``'s one key beyond ``backup_dir`` and ``store``."""

    owner: str | None = Field(
        default=None,
        description="the user backup_dir belongs to when it is not root: a root_squash NFS or a CIFS mount shows "
        "`nobody`; corral then trusts that user's folders and archives there",
    )

    @field_validator("owner")
    @classmethod
    def _known_user(cls, value: str | None) -> str | None:
        if value is not None:
            uid_of(value)
        return value


def uid_of(user: str) -> int:
    """The uid of a user name or number; ValueError naming it when this system does not know it."""
    if user.isdigit():
        return int(user)
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise ValueError(f"no user `{user}` on this system (give a name from /etc/passwd or a uid)") from None


@hookimpl
def corral_storage_schema() -> type[StorageOptions]:
    return LocalOptions


@hookimpl
def corral_storage_filesystem(config: StorageConfig) -> LocalFolder:
    owner = config.options.owner  # type: ignore[attr-defined]
    return LocalFolder(config.backup_dir, uid_of(owner) if owner is not None else None)


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
    streams = True  # archives may arrive as a stream (`open(..., "wb")`), written as they are made

    def __init__(self, backup_dir: str | None = None, owner: int | None = None) -> None:
        self.root = os.path.normpath(os.path.abspath(backup_dir)) if backup_dir else None
        self.owner = owner  # the storage entry's `owner`: trusted like root below backup_dir
        self.trusted = {0, os.geteuid()} | ({owner} if owner is not None else set())
        self._way_checked = False

    def _below(self, path: str) -> list[str] | None:
        """The names of ``path`` below ``backup_dir``, or None when it is not below it."""
        full = os.path.normpath(os.path.abspath(path))
        if self.root is None or not full.startswith(self.root.rstrip("/") + "/"):
            return None
        return full[len(self.root.rstrip("/")) + 1 :].split("/")

    @contextmanager
    def _at(self, path: str) -> Iterator[tuple[int | None, str]]:
        """``(folder, name)`` for ``path``: below ``backup_dir``, the folder opened link by link without following
        any (a link raises StorageError), else None and the path as given (the admin's own way)."""
        parts = self._below(path)
        if parts is None or self.root is None:
            yield None, path
            return
        # the way to backup_dir: folders and links of root or the running user, writable by nobody else (sticky
        # excepted), and backup_dir itself theirs (others may write in it: below it no link is followed)
        if not self._way_checked:  # once per job: only root or us can change the folders above it
            check_way(Path(self.root), "backup folder", own_last=False, shared_last=True, last_owner=self.owner)
            self._way_checked = True
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            owner = os.fstat(fd).st_uid  # made by another user in a shared folder since the check: refused too
            if owner not in self.trusted:
                raise UnsafePath(f"backup folder `{self.root}` is not safe: it belongs to uid {owner}, another user")
            walked = self.root
            for part in parts[:-1]:
                walked = os.path.join(walked, part)
                try:
                    below = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(part, fd):
                        raise _link_refused(walked, self.root) from None
                    raise
                os.close(fd)
                fd = below
            yield fd, parts[-1]
        finally:
            os.close(fd)

    def _open(self, path: str, flags: int, mode: int = 0o600) -> int:
        with self._at(path) as (folder, name):
            try:
                return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=folder)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR) and folder is not None and _is_link(name, folder):
                    raise _link_refused(path, self.root or "") from None
                raise

    def _open_to_read(self, path: str) -> int:
        """A stored file opened to read, never a FIFO or a device: another user who can write in the folder could
        plant a FIFO named like an archive or a run record, and opening it waited for good (a verify holding the
        run lock, the console's reading)."""
        fd = self._open(path, os.O_RDONLY | os.O_NONBLOCK)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise StorageError(f"`{path}` is not a regular file (a FIFO, a device or a folder): corral reads none")
        os.set_blocking(fd, True)
        return fd

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        parts = self._below(path)
        if parts is None or self.root is None:
            os.makedirs(path, mode=0o700, exist_ok=exist_ok)
            return
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        walked = self.root
        for index, part in enumerate(parts):
            walked = os.path.join(walked, part)
            try:
                self.mkdir(walked, create_parents=False)
            except FileExistsError:
                if index == len(parts) - 1 and not exist_ok:
                    raise

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        with self._at(path) as (folder, name):
            found = os.stat(name, dir_fd=folder, follow_symlinks=folder is None)
        kind = "directory" if stat.S_ISDIR(found.st_mode) else "link" if stat.S_ISLNK(found.st_mode) else "file"
        return {"name": path, "size": found.st_size, "type": kind}

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """A new folder, private until the core gives it ``dir_mode``; its name is made durable in its parent."""
        if create_parents:
            self.makedirs(path, exist_ok=True)
            return
        with self._at(path) as (folder, name):
            try:
                os.mkdir(name, 0o700, dir_fd=folder)
            except FileExistsError:
                if folder is not None and _is_link(name, folder):
                    raise _link_refused(path, self.root or "") from None
                raise
            sync_folder(os.path.dirname(path), folder)

    def chmod(self, path: str, mode: int) -> None:
        fd = self._open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)

    def put_file(self, lpath: str, rpath: str, callback: Any = None, file_mode: int | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        """``rpath`` gets the archive's bytes with ``file_mode`` (default: the archive's own), fsync'd.

        A hard link shares its inode, hence its mode, with the archive and with every other storage of the job
        that linked it: its mode is changed only while no other storage holds it; otherwise it is copied. An
        archive that is not the running user's own (an external script's, run as a site's user) is always copied:
        linked, the stored backup would stay that user's file to rewrite.
        """
        with _LINKING, self._at(rpath) as (folder, name):
            try:
                if os.stat(lpath).st_uid != os.geteuid():
                    raise OSError(errno.EPERM, "another user's file")
                os.link(lpath, name, dst_dir_fd=folder)
            except OSError as exc:
                if exc.errno not in _NO_LINK:
                    raise
            else:
                if _sync_link(name, file_mode, folder):
                    return
                os.unlink(name, dir_fd=folder)  # shared with another storage that wants another mode
        mode = file_mode if file_mode is not None else stat.S_IMODE(os.stat(lpath).st_mode)
        _copy(lpath, self._open(rpath, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), mode)

    def get_file(self, rpath: str, lpath: str, callback: Any = None, **kwargs: Any) -> None:
        """Copy a stored file out, only when root or the running user owns it: a restore extracts it as root, and
        an archive another user planted in a folder they can write could hold a root-owned setuid file."""
        with open(self._open_to_read(rpath), "rb") as source:
            owner = os.fstat(source.fileno()).st_uid
            if owner not in self.trusted:
                raise StorageError(f"`{rpath}` belongs to uid {owner}, another user: corral reads back only files "
                                   "root or the running user wrote (check it, then `chown` it to use it)")
            with open(lpath, "wb") as target:
                shutil.copyfileobj(source, target, 1 << 20)

    def open(self, path: str, mode: str = "rb", file_mode: int | None = None, **kwargs: Any) -> IO[Any]:
        """A stored file to read, or a new one to write (never an existing one, never through a link) with
        ``file_mode`` set before its first byte; the caller closes it, as with fsspec."""
        if mode.startswith("r"):
            return open(self._open_to_read(path), mode)
        fd = self._open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if file_mode is None else file_mode)
        if file_mode is not None:
            os.fchmod(fd, file_mode)  # the umask may have taken bits of `file_mode` away
        return open(fd, mode)

    def size(self, path: str) -> int:
        with self._at(path) as (folder, name):
            return os.stat(name, dir_fd=folder, follow_symlinks=folder is None).st_size

    def exists(self, path: str) -> bool:
        try:
            with self._at(path) as (folder, name):
                os.stat(name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def mv(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Rename, then fsync the folder: the new name survives a power loss (the bytes were fsync'd before)."""
        with self._at(path1) as (folder1, name1), self._at(path2) as (folder2, name2):
            os.replace(name1, name2, src_dir_fd=folder1, dst_dir_fd=folder2)
            sync_folder(os.path.dirname(path2), folder2)

    def rm_file(self, path: str) -> None:
        """Delete a stored file, only when root, the running user or the storage's ``owner`` owns it: a file
        named like a backup that another user planted in a folder they can write is not corral's to delete."""
        with self._at(path) as (folder, name):
            owner = os.stat(name, dir_fd=folder, follow_symlinks=False).st_uid
            if owner not in self.trusted:
                raise StorageError(f"`{path}` belongs to uid {owner}, another user: corral deletes only files root "
                                   "or the running user wrote")
            os.unlink(name, dir_fd=folder)

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        """The entries of one folder (fsspec's ``ls``: a link is type ``link``, never followed): the console's
        listing of the job folders (docs/console.md)."""
        try:
            top = self._open(path, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, "no such folder", path) from None
        entries = []
        try:
            with os.scandir(top) as found:
                for entry in found:
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    kind = ("directory" if stat.S_ISDIR(info.st_mode) else "link" if stat.S_ISLNK(info.st_mode)
                            else "file" if stat.S_ISREG(info.st_mode) else "other")  # fmt: skip
                    entries.append({"name": os.path.join(path, entry.name), "size": info.st_size, "type": kind,
                                    "islink": kind == "link", "mtime": info.st_mtime})  # fmt: skip
        finally:
            os.close(top)
        return entries if detail else [entry["name"] for entry in entries]

    def find(self, path: str, detail: bool = False, on_error: str = "omit", **kwargs: Any) -> Any:
        """Every file under ``path``; a folder that cannot be read raises (fsspec's ``on_error="raise"``)."""
        try:
            top = self._open(path, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, "no such folder", path) from None
        except NotADirectoryError:
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", path) from None
        raise_error: Callable[[OSError], None] | None = _reraise if on_error == "raise" else None
        found: dict[str, dict[str, Any]] = {}
        try:  # fwalk never enters a linked folder, and reads each folder through its own descriptor
            for folder, _dirs, files, folder_fd in os.fwalk(".", onerror=raise_error, dir_fd=top):
                for name in files:
                    full = os.path.normpath(os.path.join(path, folder, name))
                    try:
                        info = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
                    except FileNotFoundError:  # deleted meanwhile
                        continue
                    link, size = stat.S_ISLNK(info.st_mode), info.st_size
                    if link:  # a link counts as what it points to, as in fsspec (a dangling one: 0)
                        try:
                            size = os.stat(name, dir_fd=folder_fd).st_size
                        except OSError:
                            size = 0
                    found[full] = {"name": full, "size": size, "type": "file", "islink": link}
        finally:
            os.close(top)
        return found if detail else sorted(found)


def _reraise(error: OSError) -> None:
    raise error


def _is_link(name: str, folder: int | None) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _link_refused(path: str, root: str) -> StorageError:
    return StorageError(f"`{path}` is a symbolic link; corral follows no link below backup_dir `{root}` "
                        "(another user could point it anywhere): remove it, or give that place its own storage "
                        "entry with `backup_dir` pointing there")


def _sync_link(path: str, file_mode: int | None, folder: int | None = None) -> bool:
    """Give a fresh hard link ``file_mode`` and fsync it; False when another storage shares a different mode."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder)
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


def _copy(source: str, fd: int, mode: int) -> None:
    """Copy in the kernel (sendfile) into the new file ``fd``, given ``mode`` before its first byte; fsync it."""
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


def sync_folder(path: str, folder: int | None = None) -> None:
    """fsync a folder (``folder``: already open), so that the names it holds survive a power loss (some
    filesystems cannot: ignored)."""
    fd = os.dup(folder) if folder is not None else os.open(path or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


@hookimpl
def corral_storage_doctor(storage: Any) -> list[Any]:
    """``corral doctor``: the backup disk's free space against the job's biggest archive (see :mod:`.doctor`)."""
    from corral_storage_local.doctor import check

    return check(storage)
