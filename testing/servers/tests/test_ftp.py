import fsspec

from corral_testservers import FTPServer


def test_ftp_write_read(ftp_server: FTPServer) -> None:
    fs = fsspec.filesystem("ftp", **ftp_server.storage_options(), skip_instance_cache=True)
    fs.makedirs("/bk", exist_ok=True)
    fs.pipe("/bk/a.bin", b"x" * 100_000)
    assert fs.cat("/bk/a.bin") == b"x" * 100_000
    assert (ftp_server.root / "bk" / "a.bin").stat().st_size == 100_000
    fs.rm("/bk", recursive=True)
