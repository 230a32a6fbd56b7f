"""The ``local`` storage: a folder on this server, through fsspec's local filesystem."""

from __future__ import annotations

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
    return LocalFileSystem()
