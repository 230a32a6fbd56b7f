import fsspec

from corral_testservers import SMBServer


def test_smb_write_read(smb_server: SMBServer) -> None:
    fs = fsspec.filesystem("smb", **smb_server.storage_options(), skip_instance_cache=True)
    directory = f"/{smb_server.share}/bk"
    fs.makedirs(directory, exist_ok=True)
    fs.pipe(f"{directory}/a.bin", b"z" * 100_000)
    assert fs.cat(f"{directory}/a.bin") == b"z" * 100_000
    assert (smb_server.share_path / "bk" / "a.bin").stat().st_size == 100_000
    fs.rm(directory, recursive=True)
