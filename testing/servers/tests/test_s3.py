import os

import pytest
import s3fs

from corral_testservers import S3Server


def test_s3_write_read_with_real_auth_and_multipart(s3_server: S3Server) -> None:
    fs = s3fs.S3FileSystem(**s3_server.storage_options(), skip_instance_cache=True)
    key = f"{s3_server.bucket}/bk/a.bin"
    fs.pipe(key, b"s" * 100_000)
    assert fs.cat(key) == b"s" * 100_000
    big, data = f"{s3_server.bucket}/bk/big.bin", os.urandom(11 << 20)
    with fs.open(big, "wb", block_size=5 << 20) as f:  # multipart upload: 3 parts
        for start in range(0, len(data), 5 << 20):
            f.write(data[start : start + (5 << 20)])
    assert fs.cat(big) == data
    assert fs.info(big)["ETag"].strip('"').endswith("-3")
    assert sorted(fs.ls(f"{s3_server.bucket}/bk", detail=False)) == [key, big]
    options = s3_server.storage_options() | {"secret": "wrong-secret"}
    with pytest.raises(PermissionError):
        s3fs.S3FileSystem(**options, skip_instance_cache=True).cat(key)
    fs.rm(f"{s3_server.bucket}/bk", recursive=True)
