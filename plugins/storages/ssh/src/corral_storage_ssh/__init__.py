"""The ``scp`` and ``sftp`` storages: a folder on an SSH server, written over SFTP through OpenSSH's ``ssh``.

Both names take the same keys and speak SFTP: the article's ``scp`` storage exists for its configs, and SFTP
is what makes atomic uploads possible (write a hidden temp file, then the server's overwriting rename).
The core's put/list/delete/get run unchanged on the filesystem this plugin opens (fsspec's ``sftp``).
"""

from __future__ import annotations

from corral import RemoteFileSystem, StorageConfig, hookimpl
from corral_storage_ssh.filesystem import open_filesystem
from corral_storage_ssh.options import SSHOptions


@hookimpl
def corral_storage_schema() -> type[SSHOptions]:
    return SSHOptions


@hookimpl
def corral_storage_filesystem(config: StorageConfig) -> RemoteFileSystem:
    options = config.options
    assert isinstance(options, SSHOptions)
    return open_filesystem(options, scheme="sftp" if config.name == "sftp" else "scp")
