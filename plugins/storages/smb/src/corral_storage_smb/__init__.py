"""The ``smb`` storage: a folder inside a Windows or Samba share, through fsspec's smb filesystem (smbprotocol).

Uploads stay atomic: the core writes the archive under a hidden temp name beside its target and renames it
with SMB's replace-if-exists rename. The core's put/list/delete/get run unchanged on this filesystem.
"""

from __future__ import annotations

from corral import RemoteFileSystem, StorageConfig, hookimpl
from corral_storage_smb.filesystem import open_filesystem
from corral_storage_smb.options import SMBOptions


@hookimpl
def corral_storage_schema() -> type[SMBOptions]:
    return SMBOptions


@hookimpl
def corral_storage_filesystem(config: StorageConfig) -> RemoteFileSystem:
    options = config.options
    assert isinstance(options, SMBOptions)
    return open_filesystem(options)
