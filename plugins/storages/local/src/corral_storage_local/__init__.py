"""The ``local`` storage: a folder on this server.

Remote storages go through fsspec; this one only needs a handful of ``os`` calls, and importing fsspec (it pulls
in asyncio) cost 55 ms of corral's ~0.5 s start-up here, on every run. :class:`LocalFolder` therefore offers
the few fsspec methods the core's default storage hooks call, with fsspec's local semantics.
"""

from __future__ import annotations

import errno
import os
import shutil
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


class LocalFolder:
    """The subset of fsspec's filesystem API the core's storage hooks use, on local paths.

    A put is a hard link when the archive is on the same filesystem (no second copy of a large archive), a
    copy otherwise; the core still writes to a hidden temporary name and renames it, so the all-or-nothing
    rule holds.
    """

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        os.makedirs(path, exist_ok=exist_ok)

    def put_file(self, lpath: str, rpath: str, callback: Any = None, **kwargs: Any) -> None:
        try:
            os.link(lpath, rpath)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            shutil.copyfile(lpath, rpath)

    def get_file(self, rpath: str, lpath: str, callback: Any = None, **kwargs: Any) -> None:
        shutil.copyfile(rpath, lpath)

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> IO[Any]:
        return open(path, mode)  # the caller closes it, as with fsspec

    def size(self, path: str) -> int:
        return os.stat(path).st_size

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def mv(self, path1: str, path2: str, **kwargs: Any) -> None:
        os.replace(path1, path2)

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
