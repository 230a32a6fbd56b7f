"""The core's fsspec implementation of the storage hooks; a storage plugin overrides only what differs.

Registered under every storage driver with ``trylast``, so a plugin's own ``corral_storage_put`` (an S3
multipart upload, say) wins.
"""

from __future__ import annotations

import posixpath
import secrets
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corral.archive import RemoteFile
from corral.hookspecs import hookimpl

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

PARTIAL_MARK = ".partial-"


def partial_name(remote_path: str) -> str:
    """A hidden name beside the target: never mistaken for a backup, cleaned up by rotation if orphaned."""
    parent, name = posixpath.split(remote_path)
    return posixpath.join(parent, f".{name}{PARTIAL_MARK}{secrets.token_hex(4)}")


@hookimpl(trylast=True)
def corral_storage_put(fs: AbstractFileSystem, local_path: Path, remote_path: str) -> bool:
    parent = posixpath.dirname(remote_path)
    if parent:
        fs.makedirs(parent, exist_ok=True)
    temp = partial_name(remote_path)
    expected = local_path.stat().st_size
    try:
        fs.put_file(str(local_path), temp)
        arrived = fs.size(temp)
        if arrived != expected:
            raise OSError(f"upload of `{remote_path}` is incomplete: {arrived} of {expected} bytes arrived")
        fs.mv(temp, remote_path)
    except BaseException:
        with suppress(Exception):
            fs.rm_file(temp)
        raise
    return True


@hookimpl(trylast=True)
def corral_storage_list(fs: AbstractFileSystem, root: str) -> list[RemoteFile]:
    try:
        # fsspec's walk omits folders it cannot list by default: a broken listing must not look like an
        # empty one, or retention and incremental chains would act on half the truth
        found: dict[str, dict[str, Any]] = _find(fs, root)
    except (FileNotFoundError, NotADirectoryError):  # nothing stored yet (the upload reports a file in the way)
        return []
    return [
        RemoteFile(path=path, size=int(info.get("size") or 0))
        for path, info in found.items()
        if info.get("type", "file") != "directory"
    ]


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
def corral_storage_get(fs: AbstractFileSystem, remote_path: str, local_path: Path) -> bool:
    fs.get_file(remote_path, str(local_path))
    return True
