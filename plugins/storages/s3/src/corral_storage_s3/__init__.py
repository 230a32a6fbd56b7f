"""The ``s3`` storage: an S3 bucket (AWS or any S3-compatible server) through s3fs.

Uploads are one PUT or a multipart upload completed only at the end (never a temp object and a copy), from a
file or from a stream's chunks as they come; lists are
one listing of the job's prefix; timeouts and retries come from botocore's config.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from pathlib import Path

from corral import RemoteFile, StorageConfig, hookimpl
from corral_storage_s3.errors import s3_errors
from corral_storage_s3.filesystem import BucketFileSystem, CorralS3FileSystem
from corral_storage_s3.options import S3Options
from corral_storage_s3.upload import StreamedUpload

__all__ = ["BucketFileSystem", "S3Options", "open_bucket"]

DEFAULT_REGION = "us-east-1"
log = logging.getLogger("corral")


def open_bucket(options: S3Options) -> BucketFileSystem:
    """The filesystem of one configured bucket; nothing is contacted until the first operation (the storage hook
    checks the bucket right after)."""
    client_kwargs = {"region_name": options.region or (DEFAULT_REGION if options.endpoint_url else None)}
    config_kwargs = {
        "connect_timeout": options.timeout, "read_timeout": options.timeout,
        "retries": {"max_attempts": options.retries, "mode": "standard"},
        "max_pool_connections": max(10, options.max_concurrency + 2),
        # no CRC32 of every part by default (botocore >= 1.36): S3-compatible servers that predate it refuse its
        # trailers, TLS and the manifests' SHA-256 already prove the bytes, and it read each part once more under
        # the GIL (a quarter of the S3 leg's Python time in bench/stream_three.py)
        "request_checksum_calculation": "when_required",
    }  # fmt: skip
    secret = options.secret_access_key.get_secret_value() if options.secret_access_key else None
    extra = {"StorageClass": options.storage_class} if options.storage_class else {}
    s3 = CorralS3FileSystem(
        key=options.access_key_id, secret=secret, endpoint_url=options.endpoint_url,
        client_kwargs={k: v for k, v in client_kwargs.items() if v}, config_kwargs=config_kwargs,
        part_size=options.part_size, concurrency=options.max_concurrency, timeout=options.timeout,
        retries=options.retries, extra=extra,
        skip_instance_cache=True, use_listings_cache=False,
    )  # fmt: skip
    bucket = BucketFileSystem(path=options.bucket, fs=s3, skip_instance_cache=True)
    bucket.label = options.location
    return bucket


def _errors(fs: BucketFileSystem) -> AbstractContextManager[None]:
    return s3_errors(fs.bucket, fs.fs.endpoint_url or "AWS")


@hookimpl
def corral_storage_schema() -> type[S3Options]:
    return S3Options


@hookimpl
def corral_config_warnings(storage: StorageConfig) -> list[str]:
    options = storage.options
    assert isinstance(options, S3Options)
    if options.access_key_id is None or not (options.endpoint_url or "").startswith("http://"):
        return []
    return [
        f"`endpoint_url` {options.endpoint_url} is plain http: the archives and the requests signed with "
        f"access key `{options.access_key_id}` travel unencrypted; use https"
    ]


@hookimpl
def corral_storage_filesystem(config: StorageConfig) -> BucketFileSystem:
    """The bucket, checked now: a missing one fails the storage before anything is written (or is created)."""
    options = config.options
    assert isinstance(options, S3Options)
    fs = open_bucket(options)
    with _errors(fs):
        if fs.ensure_bucket(create=options.create_bucket):
            log.info("%s: bucket `%s` did not exist; created it (create_bucket: yes)", fs.label, fs.bucket)
    return fs


@hookimpl
def corral_storage_put(fs: BucketFileSystem, local_path: Path, remote_path: str) -> bool:
    # In a transaction, so that whatever a put_file writes through `open` is committed only if it all succeeds.
    with _errors(fs), fs.transaction:
        fs.put_file(str(local_path), remote_path)
    return True


@hookimpl
def corral_storage_open_upload(fs: BucketFileSystem, remote_path: str) -> StreamedUpload:
    """A stream becomes a multipart upload fed as the bytes come, completed at commit (see StreamedUpload)."""
    bucket, key, _ = fs.fs.split_path(fs._join(remote_path))
    return StreamedUpload(fs.fs.uploader, fs.fs.loop, bucket, key, lambda: _errors(fs))


@hookimpl
def corral_storage_list(fs: BucketFileSystem, root: str) -> list[RemoteFile]:
    with _errors(fs):
        return fs.list_files(root)


@hookimpl
def corral_storage_delete(fs: BucketFileSystem, path: str) -> bool:
    with _errors(fs):
        fs.rm_file(path)
    return True


@hookimpl
def corral_storage_get(fs: BucketFileSystem, remote_path: str, local_path: Path) -> bool:
    with _errors(fs):
        fs.get_file(remote_path, str(local_path))
    return True
