"""The core's fsspec implementation of the storage hooks; a storage plugin overrides only what differs.

Registered under every storage driver with ``trylast``, so a plugin's own ``corral_storage_put`` (an S3
multipart upload, say) wins.

Permissions: a filesystem whose files have POSIX permissions says so with ``posix_modes = True`` and then offers,
beyond fsspec's ``info`` and ``mkdir``, ``chmod(path, mode)`` and ``put_file(lpath, rpath, file_mode=MODE)``,
which creates the file with ``MODE`` before its first byte arrives (so no one can open it in between) and makes its
bytes durable before returning where the protocol can (fsync). The default put then creates each missing folder
with ``dir_mode`` and leaves existing folders alone. Other filesystems get neither argument.
"""

from __future__ import annotations

import errno
import io
import os
import posixpath
import re
import secrets
from collections.abc import Collection
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from corral.archive import RemoteFile, own_backup
from corral.hookspecs import hookimpl
from corral.manifest import manifest_stamp
from corral.records import parse_record, server_part

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

PARTIAL_MARK = ".partial-"
_TOKEN_BYTES = 4
_PARTIAL = re.compile(rf"\.(?P<name>.+){re.escape(PARTIAL_MARK)}[0-9a-f]{{{2 * _TOKEN_BYTES}}}")


def partial_name(remote_path: str) -> str:
    """A hidden name beside the target: never mistaken for a backup, cleaned up by rotation if orphaned.

    Storage plugins that write their own temp files use it too, so :func:`orphaned_upload` knows every one.
    """
    parent, name = posixpath.split(remote_path)
    return posixpath.join(parent, f".{name}{PARTIAL_MARK}{secrets.token_hex(_TOKEN_BYTES)}")


def partial_pattern(remote_path: str) -> str:
    """The temp name of an upload of ``remote_path`` as a glob (its random part unknown): for messages."""
    parent, name = posixpath.split(remote_path)
    return posixpath.join(parent, f".{name}{PARTIAL_MARK}*")


def orphaned_upload(remote: RemoteFile, root: str, extensions: Collection[str] | None,
                    server: str | None = None) -> bool:  # fmt: skip
    """``remote`` is the temp file of an upload to ``root`` that never finished: exactly a name
    :func:`partial_name` makes, beside where one of the job's archives or manifests goes (see :func:`own_backup`,
    :func:`corral.manifest.manifest_stamp`, :func:`corral.records.parse_record`). With ``server``, a run record's
    only when it is that server's: another server sharing the job folder may be writing its record right now."""
    parent, name = posixpath.split(remote.path)
    match = _PARTIAL.fullmatch(name)
    if match is None or remote.link:
        return False
    final = RemoteFile(posixpath.join(parent, match["name"]), remote.size)
    record = parse_record(final, root)
    return (own_backup(final, root, extensions) is not None or manifest_stamp(final, root) is not None
            or (record is not None and (server is None or record.server == server_part(server))))


@hookimpl(trylast=True)
def corral_storage_put(
    fs: AbstractFileSystem, local_path: Path, remote_path: str, file_mode: int, dir_mode: int
) -> bool:
    temp, extra = _prepare(fs, remote_path, file_mode, dir_mode)
    expected = local_path.stat().st_size
    try:
        fs.put_file(str(local_path), temp, **extra)
        arrived = fs.size(temp)
        if arrived != expected:
            raise OSError(f"upload of `{remote_path}` is incomplete: {arrived} of {expected} bytes arrived")
        fs.mv(temp, remote_path)
    except BaseException as exc:
        if not _left_behind(fs, temp, exc):
            raise
        exc.add_note(f"its temp file `{temp}` may stay on the storage until the next run's rotation removes it")
        raise
    return True


def _left_behind(fs: AbstractFileSystem, temp: str, exc: BaseException) -> bool:
    """Remove the temp file of a failed upload, unless the storage stopped answering (the next run's rotation
    removes it then, instead of this one waiting for more timeouts); whether it stays behind."""
    from corral.errors import StorageUnreachable
    from corral.remote import is_transient

    if is_transient(exc) or isinstance(exc, StorageUnreachable) or not isinstance(exc, Exception):
        return True
    try:
        fs.rm_file(temp)
    except FileNotFoundError:
        return False
    except Exception:
        return True
    return False


@hookimpl(trylast=True)
def corral_storage_open_upload(
    fs: AbstractFileSystem, remote_path: str, file_mode: int, dir_mode: int
) -> StreamUpload | None:
    """An upload written chunk by chunk under a hidden temp name, renamed at commit; None when the filesystem
    does not say it can (``streams = True``), and the core then spools the archive for it."""
    if not getattr(fs, "streams", False):
        return None
    temp, extra = _prepare(fs, remote_path, file_mode, dir_mode)
    return StreamUpload(fs, fs.open(temp, "wb", **extra), temp, remote_path)


def _prepare(fs: AbstractFileSystem, remote_path: str, file_mode: int, dir_mode: int) -> tuple[str, dict[str, int]]:
    """Make the folders down to ``remote_path`` (``dir_mode`` where the filesystem has modes); returns the temp
    name to write and the ``file_mode`` argument for a filesystem with modes."""
    modes = bool(getattr(fs, "posix_modes", False))
    parent = posixpath.dirname(remote_path)
    if parent and modes:
        make_folders(fs, parent, dir_mode)
    elif parent:
        fs.makedirs(parent, exist_ok=True)
    return partial_name(remote_path), ({"file_mode": file_mode} if modes else {})


class StreamUpload:
    """The default :class:`corral.fanout.Upload`: an fsspec file opened for writing under a temp name."""

    def __init__(self, fs: AbstractFileSystem, file: Any, temp: str, remote_path: str) -> None:
        self.fs, self.file, self.temp, self.remote_path = fs, file, temp, remote_path

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def commit(self, size: int) -> None:
        """Flush and fsync (where the file can), close, check the size that arrived, rename."""
        self.file.flush()
        sync = getattr(self.file, "fsync", None)
        if callable(sync):
            sync()
        elif hasattr(self.file, "fileno"):
            with suppress(io.UnsupportedOperation):  # an fsspec file with no descriptor: nothing to fsync here
                os.fsync(self.file.fileno())
        self.file.close()
        arrived = self.fs.size(self.temp)
        if arrived != size:
            raise OSError(f"upload of `{self.remote_path}` is incomplete: {arrived} of {size} bytes arrived")
        self.fs.mv(self.temp, self.remote_path)

    def abort(self, error: BaseException | None) -> None:
        """Close and remove the temp file; after ``error`` from a storage that stopped answering, leave it and say
        so in the error (``error`` None: the dump failed, the storage is fine)."""
        with suppress(Exception):
            self.file.close()
        if error is None:
            with suppress(Exception):
                self.fs.rm_file(self.temp)
        elif _left_behind(self.fs, self.temp, error):
            error.add_note(f"its temp file `{self.temp}` may stay on the storage until the next run's rotation "
                           "removes it")


def make_folders(fs: AbstractFileSystem, folder: str, mode: int) -> list[str]:
    """Create the missing folders down to ``folder`` with ``mode``; returns them. Existing ones are not touched.

    Climbs from ``folder`` (one look-up when it exists, as it does on every put but the first), then creates
    downwards. A folder that appears meanwhile (another run) is someone else's: its mode stays.
    """
    missing = []
    while folder not in ("", "/", ".") and not _is_folder(fs, folder):
        missing.append(folder)
        folder = posixpath.dirname(folder)
    made = []
    downwards = list(reversed(missing))
    for index, path in enumerate(downwards):
        try:
            fs.mkdir(path, create_parents=False)
        except OSError as exc:
            if _is_folder(fs, path):
                continue  # made meanwhile
            if isinstance(exc, FileExistsError):  # a file where a folder should be: name the folder that cannot
                below = downwards[index + 1] if index + 1 < len(downwards) else path  # be made, as makedirs does
                raise NotADirectoryError(errno.ENOTDIR, "Not a directory", below) from None
            raise  # no permission...
        fs.chmod(path, mode)  # mkdir's mode went through the umask; chmod gives exactly `mode`
        made.append(path)
    return made


def _is_folder(fs: AbstractFileSystem, path: str) -> bool:
    """Unlike fsspec's ``isdir``, a server that does not answer is an error, not a missing folder."""
    try:
        return bool(fs.info(path)["type"] == "directory")
    except (FileNotFoundError, NotADirectoryError):
        return False


@hookimpl(trylast=True)
def corral_storage_list(fs: AbstractFileSystem, root: str) -> list[RemoteFile]:
    try:
        # fsspec's walk omits folders it cannot list by default: a broken listing must not look like an
        # empty one, or retention and incremental chains would act on half the truth
        found: dict[str, dict[str, Any]] = _find(fs, root)
    except (FileNotFoundError, NotADirectoryError):  # nothing stored yet (the upload reports a file in the way)
        return []
    return [
        RemoteFile(path=path, size=int(info.get("size") or 0), link=_is_link(info))
        for path, info in found.items()
        if info.get("type", "file") != "directory"
    ]


def _is_link(info: dict[str, Any]) -> bool:
    """fsspec's local filesystem says ``islink``; SFTP and NFS listings give the type ``link``."""
    return bool(info.get("islink")) or info.get("type") == "link"


def _find(fs: AbstractFileSystem, root: str) -> Any:
    try:
        return fs.find(root, detail=True, on_error="raise")
    except TypeError:  # an implementation whose find takes no on_error lists in one request anyway
        return fs.find(root, detail=True)


@hookimpl(trylast=True)
def corral_storage_delete(fs: AbstractFileSystem, path: str) -> bool:
    fs.rm_file(path)
    return True


@hookimpl(trylast=True)
def corral_storage_open_read(fs: AbstractFileSystem, remote_path: str) -> BinaryIO:
    return fs.open(remote_path, "rb")


@hookimpl(trylast=True)
def corral_storage_get(fs: AbstractFileSystem, remote_path: str, local_path: Path) -> bool:
    fs.get_file(remote_path, str(local_path))
    return True
