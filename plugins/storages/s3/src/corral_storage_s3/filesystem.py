"""The fsspec filesystem of an ``s3`` storage: s3fs with corral's upload, seen from inside one bucket."""

from __future__ import annotations

import posixpath
from datetime import UTC, datetime
from typing import Any

from aiobotocore.session import AioSession
from botocore.handlers import add_expect_header
from botocore.utils import parse_timestamp
from fsspec.asyn import sync, sync_wrapper
from fsspec.implementations.dirfs import DirFileSystem
from s3fs import S3FileSystem

from corral import RemoteFile
from corral_storage_s3.errors import error_code
from corral_storage_s3.upload import Uploader


def listed_time(value: str) -> datetime:
    """A listing's ``LastModified``: ``fromisoformat`` (C) first. botocore's default is dateutil's parser, about
    0.1 ms per listed object: most of the time of listing a folder of records or archives."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return parse_timestamp(value)  # type: ignore[no-any-return]
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class CorralS3FileSystem(S3FileSystem):
    """s3fs whose ``put_file`` is the concurrent, bounded-memory, all-or-nothing :class:`Uploader`."""

    def __init__(self, *, part_size: int, concurrency: int, timeout: float, retries: int, extra: dict[str, Any],
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(**kwargs)
        # botocore retries with backoff (standard mode); s3fs's own retries on top would multiply every timeout
        self.retries = 1
        self.uploader = Uploader(self, part_size=part_size, concurrency=concurrency, timeout=timeout,
                                 retries=retries, extra=extra)

    async def set_session(self, refresh: bool = False, kwargs: dict[str, Any] | None = None) -> Any:
        if self.session is None:  # ours, with the fast parser of listed times; kept on a refresh
            self.session = AioSession(**self.kwargs)
            self.session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=listed_time)
            self._session_is_owned = False
        client = await super().set_session(refresh, kwargs or {})
        # No "Expect: 100-continue": aiohttp applies no read timeout while it waits for the "100 Continue", so a
        # hung server would hold every PUT until the uploader's watchdog instead of botocore's timeout and retry.
        client.meta.events.unregister("before-call.s3", add_expect_header)
        return client

    _connect = set_session
    connect = sync_wrapper(set_session)

    async def _put_file(self, lpath: str, rpath: str, callback: Any = None, **kwargs: Any) -> None:
        bucket, key, _ = self.split_path(rpath)
        await self.uploader.upload(lpath, bucket, key)
        self.invalidate_cache(rpath)


class BucketFileSystem(DirFileSystem):
    """Paths are keys inside one bucket: ``/backups/job/x.tar`` is the object ``bucket/backups/job/x.tar``.

    The core names files ``backup_dir/job/...``; for S3, ``backup_dir`` is a key prefix, with or without a
    leading slash.
    """

    fs: CorralS3FileSystem
    #: ``s3://bucket@host``, set by :func:`corral_storage_s3.open_bucket`: where the files go, for messages
    label: str = ""

    @property
    def bucket(self) -> str:
        return str(self.path)

    def ensure_bucket(self, create: bool) -> bool:
        """Fail unless the bucket exists, or create it when ``create``; True if it was created.

        Some servers (SeaweedFS among them) create a missing bucket on the first PUT: without this check a typo
        in ``bucket`` would store backups in a new bucket nobody looks at. A one-key listing, not HeadBucket: it
        needs the same permission rotation does, and its error has a code (a HEAD answer has no body, so wrong
        keys would read as "403 Forbidden").
        """
        return sync(self.fs.loop, self._ensure_bucket, create)

    async def _ensure_bucket(self, create: bool) -> bool:
        try:
            await self.fs._call_s3("list_objects_v2", Bucket=self.bucket, MaxKeys=1)
            return False
        except Exception as exc:
            if not create or error_code(exc) != "NoSuchBucket":
                raise
        region = self.fs.s3.meta.region_name
        outside_us_east_1 = region not in (None, "us-east-1")
        where = {"CreateBucketConfiguration": {"LocationConstraint": region}} if outside_us_east_1 else {}
        try:
            await self.fs._call_s3("create_bucket", Bucket=self.bucket, **where)
        except Exception as exc:
            if error_code(exc) != "BucketAlreadyOwnedByYou":  # another job created it meanwhile
                raise
            return False
        return True

    def _join(self, path: Any) -> Any:
        return super()._join(path.lstrip("/") if isinstance(path, str) else path)

    @property
    def transaction(self) -> Any:
        """The bucket's transaction: files opened for writing inside it are committed only if it succeeds."""
        return self.fs.transaction

    def list_files(self, root: str) -> list[RemoteFile]:
        """Every object below ``root`` in one (paginated) listing, named as ``root`` is."""
        return sync(self.fs.loop, self._list_files, root)

    async def _list_files(self, root: str) -> list[RemoteFile]:
        prefix = root.strip("/")
        prefix = f"{prefix}/" if prefix else ""
        found = []
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            page = await self.fs._call_s3("list_objects_v2", **request)
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith("/"):  # folder markers some tools create
                    continue
                found.append(RemoteFile(path=posixpath.join(root, key[len(prefix) :]), size=int(item["Size"])))
            if not page.get("IsTruncated"):
                return found
            request["ContinuationToken"] = page["NextContinuationToken"]
