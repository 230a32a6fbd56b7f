"""The NAME source through the real corral command."""

from __future__ import annotations

import gzip
from pathlib import Path

from corral.testing.cli import corral, local_storage, write_main


def test_backup_restores_with_gunzip(tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(bytes(range(256)) * 100)
    job = {"job": "t", "type": "NAME", "sources": [{"target": [str(data)]}],
           "storages": [local_storage(tmp_path / "b")]}
    done = corral("start", "-c", str(write_main(tmp_path, [job])))
    assert done.returncode == 0, done.stderr
    (archive,) = (tmp_path / "b").rglob("*.gz")
    assert gzip.decompress(archive.read_bytes()) == data.read_bytes()
