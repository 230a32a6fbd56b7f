"""The nfs storage passes the core's storage contract on a real nfs-ganesha (NFSv4.1, no kernel mount)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from corral.testing.storage_contract import StorageContract


class TestNFSStorage(StorageContract):
    @pytest.fixture
    def storage_entry(self, nfs_entry: Callable[..., dict[str, Any]]) -> dict[str, Any]:
        return nfs_entry()


class TestNFSStorageFromReservedPort(StorageContract):
    """As root, from a port below 1024 (the default when running as root; what `secure` exports demand)."""

    @pytest.fixture
    def storage_entry(self, nfs_entry: Callable[..., dict[str, Any]]) -> dict[str, Any]:
        return nfs_entry(reserved_port=None, backup_dir="/secure/backups")


class TestNFSStorageAtTheExportRoot(StorageContract):
    """``backup_dir: /``: job folders right at the export's root."""

    @pytest.fixture
    def storage_entry(self, nfs_entry: Callable[..., dict[str, Any]]) -> dict[str, Any]:
        return nfs_entry(backup_dir="/")
