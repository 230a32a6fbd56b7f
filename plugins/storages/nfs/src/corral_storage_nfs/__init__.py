"""The ``nfs`` storage: a folder on an NFS export, reached by a userspace NFS client (no mount, no root needed
for NFSv4 with ``reserved_port: no``).

Only the filesystem is plugin-specific; put (temp name + rename), list, delete and get are the core's.
"""

from __future__ import annotations

from corral import StorageConfig, hookimpl
from corral_storage_nfs.filesystem import NFSFileSystem
from corral_storage_nfs.options import NFSOptions

__all__ = ["NFSFileSystem", "NFSOptions"]


@hookimpl
def corral_storage_schema() -> type[NFSOptions]:
    return NFSOptions


@hookimpl
def corral_storage_filesystem(config: StorageConfig) -> NFSFileSystem:
    assert isinstance(config.options, NFSOptions)
    return NFSFileSystem(config.options)
