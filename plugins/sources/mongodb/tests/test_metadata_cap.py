"""A hostile archive's ``.metadata.json`` that decompresses to more than 16 MiB is refused in one line by the
restore's and the drill's reading of the archive, before it is read into memory."""

from __future__ import annotations

import io
import resource
import subprocess
import tarfile
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import pytest

from corral import RestoreError, RunContext
from corral_source_mongodb.drill import decode
from corral_source_mongodb.restore import METADATA_BYTES, read_metadata


class Folder:
    """The storage's reading side over a local folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def open_read(self, path: str) -> BinaryIO:
        return open(self.root / path, "rb")


def bomb(tmp_path: Path, size: int) -> Folder:
    """``shop_....tar.zst`` holding ``shop/orders.metadata.json`` of ``size`` zero bytes and an empty bson."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, length in (("shop/orders.bson", 0), ("shop/orders.metadata.json", size)):
            member = tarfile.TarInfo(name)
            member.size = length
            tar.addfile(member, io.BytesIO(bytes(length)))
    packed = subprocess.run(["zstd", "-19", "-q", "-c"], input=buffer.getvalue(), capture_output=True, check=True)
    (tmp_path / "shop.tar.zst").write_bytes(packed.stdout)
    return Folder(tmp_path)


@pytest.mark.parametrize("reading", ["restore", "drill", "drill into a folder"])
def test_oversized_metadata_is_refused_without_reading_it(tmp_path: Path, reading: str) -> None:
    storage = bomb(tmp_path, 256 << 20)
    assert (tmp_path / "shop.tar.zst").stat().st_size < 1 << 20
    run = RunContext(now=datetime(2026, 1, 31, 3), main=None, config_path=tmp_path / "corral.conf")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(RestoreError) as refused:
        if reading == "restore":
            read_metadata(run, storage, "shop.tar.zst", "shop")
        else:
            decode(run, storage, "shop.tar.zst", "shop", tmp_path / "out" if reading.endswith("folder") else None)
    message = str(refused.value)
    assert "`shop/orders.metadata.json` is 256.0 MiB, more than the 16.0 MiB" in message and "\n" not in message
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 << 10  # KiB: far less than 256 MiB
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.json"))


def test_metadata_up_to_the_cap_is_read(tmp_path: Path) -> None:
    storage = bomb(tmp_path, 0)
    run = RunContext(now=datetime(2026, 1, 31, 3), main=None, config_path=tmp_path / "corral.conf")
    assert list(read_metadata(run, storage, "shop.tar.zst", "shop")) == ["orders"]
    assert METADATA_BYTES == 16 << 20
