"""The keys of an ``nfs`` storage entry."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from corral import StorageOptions


class NFSOptions(StorageOptions):
    """Which export of which server, as whom, and how long to wait for it."""

    host: str = Field(
        min_length=1, pattern=r"^[^/\s]+$", description="NFS server (name or address)",
        json_schema_extra={"example": "nfs.example.com"},
    )  # fmt: skip
    port: int = Field(default=2049, ge=1, le=65535, description="NFS port")
    export: str = Field(
        pattern=r"^/", description="exported path (NFSv4: its pseudo path); backup_dir is a folder inside it",
        json_schema_extra={"example": "/srv/backups"},
    )  # fmt: skip
    version: Literal["4.1", "4.0", "3"] = Field(
        default="4.1", description="protocol version: 4.1, 4.0 or 3 (v3 finds its MOUNT service through rpcbind)"
    )
    mount_port: int | None = Field(default=None, ge=1, le=65535, description="NFSv3 MOUNT port, if not via rpcbind")
    uid: int = Field(default=0, ge=0, description="AUTH_SYS user id the files are written as (root_squash maps 0)")
    gid: int = Field(default=0, ge=0, description="AUTH_SYS group id")
    reserved_port: bool | None = Field(
        default=None, description="connect from a port below 1024, as exports marked `secure` demand (needs root); "
        "unset: when corral runs as root",
    )  # fmt: skip
    timeout: float = Field(default=60, gt=0, le=3600, description="seconds to connect or to finish one operation")
    retries: int = Field(
        default=3, ge=0, le=20, description="retries of an operation after a timeout or a lost connection"
    )
