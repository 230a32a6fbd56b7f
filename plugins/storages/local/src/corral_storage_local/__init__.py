"""The ``local`` storage: a folder on this server, through fsspec's local filesystem."""

from __future__ import annotations

import errno
import os
from typing import Any

from fsspec.implementations.local import LocalFileSystem

from corral import StorageOptions, hookimpl
from corral.config.models import StorageConfig


class LocalOptions(StorageOptions):
    """``local`` has no keys beyond ``backup_dir`` and ``store``."""


@hookimpl
def corral_storage_schema() -> type[StorageOptions]:
    return LocalOptions


@hookimpl
def corral_storage_filesystem(config: StorageConfig) -> LocalFileSystem:
    return LinkingFileSystem()


class LinkingFileSystem(LocalFileSystem):
    """Puts by hard link when the archive is on the same filesystem: no second copy of a large archive.

    The core's put still writes to a hidden temporary name and renames it, so the all-or-nothing rule holds.
    """

    def put_file(self, lpath: str, rpath: str, callback: Any = None, **kwargs: Any) -> None:
        try:
            os.link(lpath, rpath)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            super().put_file(lpath, rpath, callback=callback, **kwargs)
