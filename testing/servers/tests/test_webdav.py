from webdav4.fsspec import WebdavFileSystem

from corral_testservers import WebDAVServer


def test_webdav_write_read(webdav_server: WebDAVServer) -> None:
    fs = WebdavFileSystem(webdav_server.url, auth=webdav_server.auth)
    fs.makedirs("bk", exist_ok=True)
    fs.pipe("bk/a.bin", b"w" * 100_000)
    assert fs.cat("bk/a.bin") == b"w" * 100_000
    assert (webdav_server.root / "bk" / "a.bin").stat().st_size == 100_000
    fs.rm("bk", recursive=True)
