from nfs_rs import Client

from corral_testservers import NFSServer


def test_nfs_write_read(nfs_server: NFSServer) -> None:
    data = b"n" * 100_000
    with Client.connect(nfs_server.url, uid=0, gid=0) as client:
        client.mkdir("bk", exist_ok=True)
        with client.open("bk/a.bin", "wb") as f:
            f.write(data)
        with client.open("bk/a.bin", "rb") as f:
            assert f.read() == data
        assert (nfs_server.path / "bk" / "a.bin").read_bytes() == data
        client.unlink("bk/a.bin")
        client.rmdir("bk")
