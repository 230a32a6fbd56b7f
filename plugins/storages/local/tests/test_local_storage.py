"""The local storage passes the core's storage contract on a real folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from corral.testing.storage_contract import StorageContract, open_storage


class TestLocalStorage(StorageContract):
    streams = True

    @pytest.fixture
    def storage_entry(self, tmp_path: Path) -> dict[str, Any]:
        return {"storage": "local", "backup_dir": str(tmp_path / "backups"), "store": {"days": 6}}


def test_unwritable_backup_dir_is_an_error_not_a_partial_file(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder should be")
    storage = open_storage({"storage": "local", "backup_dir": str(blocker)})
    local = tmp_path / "a.tar"
    local.write_bytes(b"x" * 100)
    with pytest.raises(OSError):
        storage.put(local, f"{storage.root}/a/a_2026-01-01_00-00-00.tar")
    assert blocker.read_text() == "a file where a folder should be"


def test_full_disk_leaves_no_partial(tmp_path: Path) -> None:
    """A real ENOSPC: a 1 MiB tmpfs cannot hold a 2 MiB archive; nothing stays behind."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.system(f"mount -t tmpfs -o size=1m tmpfs {mount} 2>/dev/null") != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        storage = open_storage({"storage": "local", "backup_dir": str(mount)})
        local = tmp_path / "big.tar"
        local.write_bytes(os.urandom(2 * 1024 * 1024))
        with pytest.raises(OSError):
            storage.put(local, f"{storage.root}/big/big_2026-01-01_00-00-00.tar")
        assert [p for p in mount.rglob("*") if p.is_file()] == []
    finally:
        os.system(f"umount {mount}")
