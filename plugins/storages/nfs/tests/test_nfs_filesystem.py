"""The fsspec filesystem itself, beyond what the storage contract uses: files, transactions, folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corral_storage_nfs import NFSFileSystem, NFSOptions
from corral_testservers import NFSServer


@pytest.fixture
def fs(nfs_server: NFSServer) -> NFSFileSystem:
    return NFSFileSystem(NFSOptions(host=nfs_server.host, port=nfs_server.port, export=nfs_server.export,
                                    reserved_port=False))  # fmt: skip


def test_open_write_read_info_and_listing(fs: NFSFileSystem, nfs_server: NFSServer) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    fs.makedirs("/fsapi/one", exist_ok=True)
    with fs.open("/fsapi/one/data.bin", "wb") as f:
        f.write(data)
    assert (nfs_server.path / "fsapi" / "one" / "data.bin").read_bytes() == data
    with fs.open("nfs:///fsapi/one/data.bin", "rb") as f:
        assert f.read(10) == data[:10]
        assert f.read() == data[10:]
    info = fs.info("/fsapi/one/data.bin")
    assert (info["type"], info["size"], info["name"]) == ("file", len(data), "/fsapi/one/data.bin")
    assert fs.ls("/fsapi", detail=False) == ["/fsapi/one"]
    assert fs.isdir("/fsapi/one") and fs.isfile("/fsapi/one/data.bin") and not fs.exists("/fsapi/none")
    assert fs.find("/fsapi", withdirs=True) == ["/fsapi", "/fsapi/one", "/fsapi/one/data.bin"]
    assert fs.find("/fsapi/none") == []
    fs.rm("/fsapi", recursive=True)
    assert not (nfs_server.path / "fsapi").exists()


def test_transaction_commits_only_on_success(fs: NFSFileSystem, nfs_server: NFSServer) -> None:
    fs.makedirs("/tx", exist_ok=True)
    with fs.transaction, fs.open("/tx/kept", "wb") as f:
        f.write(b"complete")
    assert (nfs_server.path / "tx" / "kept").read_bytes() == b"complete"
    with pytest.raises(RuntimeError), fs.transaction:
        with fs.open("/tx/dropped", "wb") as f:
            f.write(b"half")
        raise RuntimeError("failed before the end")
    assert sorted(p.name for p in (nfs_server.path / "tx").iterdir()) == ["kept"]


def test_mv_replaces_the_target_in_one_rename(fs: NFSFileSystem, nfs_server: NFSServer, tmp_path: Path) -> None:
    fs.makedirs("/mv", exist_ok=True)
    for name, body in (("new", b"new"), ("old", b"old")):
        (tmp_path / name).write_bytes(body)
        fs.put_file(str(tmp_path / name), f"/mv/{name}")
    before = (nfs_server.path / "mv" / "new").stat().st_ino
    fs.mv("/mv/new", "/mv/old")
    assert (nfs_server.path / "mv" / "old").read_bytes() == b"new"
    assert (nfs_server.path / "mv" / "old").stat().st_ino == before  # renamed, not copied
    fs.get_file("/mv/old", str(tmp_path / "back"))
    assert (tmp_path / "back").read_bytes() == b"new"
    with pytest.raises(FileNotFoundError):
        fs.get_file("/mv/missing", str(tmp_path / "x"))
