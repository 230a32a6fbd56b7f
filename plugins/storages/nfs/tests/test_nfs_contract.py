"""The nfs storage passes the core's storage contract on a real nfs-ganesha (NFSv4.1, no kernel mount); modes."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from corral.testing.storage_contract import StorageContract, existing_folder, stored_modes
from corral_testservers import NFSServer


class TestNFSStorage(StorageContract):
    streams = True

    @pytest.fixture
    def storage_entry(self, nfs_entry: Callable[..., dict[str, Any]]) -> dict[str, Any]:
        return nfs_entry()


class TestNFSStorageFromReservedPort(StorageContract):
    """As root, from a port below 1024 (the default when running as root; what `secure` exports demand)."""

    streams = True

    @pytest.fixture
    def storage_entry(self, nfs_entry: Callable[..., dict[str, Any]]) -> dict[str, Any]:
        return nfs_entry(reserved_port=None, backup_dir="/secure/backups")


class TestNFSStorageAtTheExportRoot(StorageContract):
    """``backup_dir: /``: job folders right at the export's root."""

    streams = True

    @pytest.fixture
    def storage_entry(self, nfs_entry: Callable[..., dict[str, Any]]) -> dict[str, Any]:
        return nfs_entry(backup_dir="/")


def on_export(server: NFSServer, remote: str) -> Path:
    return server.path / remote.lstrip("/")


@pytest.mark.parametrize(
    ("keys", "expected"),
    [({}, ("0600", "0700")), ({"file_mode": "0o640", "dir_mode": 0o750}, ("0640", "0750"))],
    ids=["default", "asked"],
)
def test_setattr_gives_the_storage_modes_and_existing_folders_keep_theirs(
    nfs_server: NFSServer, nfs_entry: Callable[..., dict[str, Any]], tmp_path: Path, keys: dict[str, Any],
    expected: tuple[str, str],
) -> None:  # fmt: skip
    kept = existing_folder(nfs_server.path / f"kept-{secrets.token_hex(4)}")
    modes = stored_modes(nfs_entry(backup_dir=f"/{kept.name}", **keys), partial(on_export, nfs_server), tmp_path)
    file_mode, dir_mode = expected
    assert modes == {"archive": file_mode, "target folder": dir_mode, "job folder": dir_mode, "backup_dir": "0751"}
