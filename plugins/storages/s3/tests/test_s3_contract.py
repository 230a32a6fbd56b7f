"""The s3 storage passes the core's storage contract on a real SeaweedFS (real SigV4 auth, real multipart)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from corral.runner import Storage
from corral.testing.storage_contract import StorageContract
from corral_testservers import S3Server


class TestS3Storage(StorageContract):
    streams = True
    stream_temp_name = False  # a multipart upload, invisible until completed

    @pytest.fixture
    def storage_entry(self, s3_entry: Callable[..., dict[str, Any]]) -> dict[str, Any]:
        return s3_entry()

    def test_interrupted_upload_leaves_nothing_under_the_final_name(
        self, storage: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_server: S3Server
    ) -> None:
        """...and no multipart upload is left behind either (S3 would keep billing for its parts)."""
        super().test_interrupted_upload_leaves_nothing_under_the_final_name(storage, tmp_path, monkeypatch)
        client = botocore.session.get_session().create_client("s3", **s3_server.client_kwargs())
        uploads = client.list_multipart_uploads(Bucket=s3_server.bucket, Prefix=storage.root.lstrip("/"))
        assert uploads.get("Uploads", []) == []


class TestS3StorageWithoutLeadingSlash(StorageContract):
    """``backup_dir`` is a key prefix: with or without a leading slash, the same objects."""

    streams = True
    stream_temp_name = False  # a multipart upload, invisible until completed


    @pytest.fixture
    def storage_entry(self, s3_entry: Callable[..., dict[str, Any]]) -> dict[str, Any]:
        return s3_entry(backup_dir="corral/backups")
