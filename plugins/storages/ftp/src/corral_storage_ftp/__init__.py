"""The ``ftp`` storage: a folder on an FTP or explicit-FTPS server, through fsspec's FTP filesystem.

Uploads stay atomic: the core sends the archive under a hidden temp name beside its target (one streamed
``STOR``) and renames it with RNFR/RNTO. The core's put/list/delete/get run unchanged on this filesystem.
"""

from __future__ import annotations

from corral import RemoteFileSystem, StorageConfig, hookimpl
from corral_storage_ftp.filesystem import open_filesystem
from corral_storage_ftp.options import FTPOptions


@hookimpl
def corral_storage_schema() -> type[FTPOptions]:
    return FTPOptions


@hookimpl
def corral_config_warnings(storage: StorageConfig) -> list[str]:
    options = storage.options
    assert isinstance(options, FTPOptions)
    if options.tls:
        return []
    return [
        f"the password of `{options.user}` goes to {options.host}:{options.port} in clear (plain FTP); "
        "set `tls: true` for explicit FTPS"
    ]


@hookimpl
def corral_storage_filesystem(config: StorageConfig) -> RemoteFileSystem:
    options = config.options
    assert isinstance(options, FTPOptions)
    return open_filesystem(options)
