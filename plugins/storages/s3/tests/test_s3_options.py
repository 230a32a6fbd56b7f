"""Config keys that change what lands in the bucket, and how they are validated."""

from __future__ import annotations

import os
import secrets
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from pydantic import ValidationError

from corral.testing.storage_contract import open_storage
from corral_storage_s3 import S3Options
from corral_testservers import S3Server

MiB = 1024 * 1024
Entry = Callable[..., dict[str, Any]]


@pytest.mark.parametrize("size", [1000, 11 * MiB], ids=["one PUT", "multipart"])
def test_storage_class_applies_to_every_upload(s3_entry: Entry, s3_server: S3Server, tmp_path: Path,
                                               size: int) -> None:  # fmt: skip
    storage = open_storage(s3_entry(storage_class="STANDARD_IA"), job_name=f"sc-{secrets.token_hex(4)}")
    local = tmp_path / "a.tar"
    local.write_bytes(os.urandom(size))
    remote = f"{storage.root}/a/a_2026-01-01_00-00-00.tar"
    storage.put(local, remote)
    client = botocore.session.get_session().create_client("s3", **s3_server.client_kwargs())
    assert client.head_object(Bucket=s3_server.bucket, Key=remote.lstrip("/"))["StorageClass"] == "STANDARD_IA"


def test_listing_a_job_is_one_request(s3_entry: Entry, tmp_path: Path) -> None:
    storage = open_storage(s3_entry(), job_name=f"ls-{secrets.token_hex(4)}")
    local = tmp_path / "x"
    local.write_bytes(b"x")
    for target in ("site1", "site2", "db"):
        for day in (1, 2):
            storage.put(local, f"{storage.root}/{target}/{target}_2026-01-0{day}_00-00-00.tar")
    sent: Counter[str] = Counter()
    storage.fs.fs.s3.meta.events.register("before-send.s3", lambda event_name, **_: sent.update([event_name]))
    assert len(storage.list()) == 6
    assert sent == Counter({"before-send.s3.ListObjectsV2": 1})


def test_sizes_and_keys_are_validated() -> None:
    base = {"bucket": "backups", "access_key_id": "AK", "secret_access_key": "SK"}
    assert S3Options.model_validate(base | {"part_size": "64M"}).part_size == 64 * MiB
    assert S3Options.model_validate(base | {"part_size": "8MiB"}).part_size == 8 * MiB
    assert S3Options.model_validate(base).part_size == 8 * MiB
    for bad, problem in (
        ({"part_size": "1M"}, "greater than or equal to 5242880"),
        ({"part_size": "lots"}, "is not a size like `16M`"),
        ({"max_concurrency": 0}, "greater than or equal to 1"),
        ({"secret_access_key": None}, "give both `access_key_id` and `secret_access_key`, or neither"),
        ({"endpoint_url": "s3.example.com"}, "should match pattern"),
    ):
        with pytest.raises(ValidationError, match=problem):
            S3Options.model_validate({**base, **bad})
    assert S3Options.model_validate({"bucket": "backups"}).secret_access_key is None  # the AWS credential chain
