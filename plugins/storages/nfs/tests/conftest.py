"""Storage entries pointing at the session's nfs-ganesha."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from corral_testservers import NFSServer


def nfs_entry_for(server: NFSServer, **extra: Any) -> dict[str, Any]:
    return {
        "storage": "nfs", "backup_dir": "/backups", "host": server.host, "port": server.port,
        "export": server.export, "reserved_port": False, **extra,
    }  # fmt: skip


@pytest.fixture
def entry_for() -> Callable[..., dict[str, Any]]:
    """``entry_for(server, **overrides)``: an ``nfs`` storage entry for any server (private ones too)."""
    return nfs_entry_for


@pytest.fixture
def nfs_entry(nfs_server: NFSServer) -> Callable[..., dict[str, Any]]:
    """``nfs_entry(**overrides)``: an ``nfs`` storage entry for the session's export."""
    return lambda **extra: nfs_entry_for(nfs_server, **extra)
