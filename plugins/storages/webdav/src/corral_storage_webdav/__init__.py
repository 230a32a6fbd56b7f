"""The ``webdav`` storage: a folder in a WebDAV collection, through webdav4's fsspec filesystem (httpx).

Uploads stay atomic: the core PUTs the archive under a hidden temp name beside its target and renames it with
``MOVE`` (``Overwrite: T``). The core's put/list/delete/get run unchanged on this filesystem.
"""

from __future__ import annotations

from corral import RemoteFileSystem, StorageConfig, hookimpl
from corral_storage_webdav.filesystem import open_filesystem
from corral_storage_webdav.options import WebDAVOptions


@hookimpl
def corral_storage_schema() -> type[WebDAVOptions]:
    return WebDAVOptions


@hookimpl
def corral_config_warnings(storage: StorageConfig) -> list[str]:
    options = storage.options
    assert isinstance(options, WebDAVOptions)
    if options.user is None or not options.base_url.startswith("http://"):
        return []
    return [
        f"the password of `{options.user}` goes to {options.base_url} in clear (HTTP basic auth without TLS); use https"
    ]


@hookimpl
def corral_storage_filesystem(config: StorageConfig) -> RemoteFileSystem:
    options = config.options
    assert isinstance(options, WebDAVOptions)
    return open_filesystem(options)
