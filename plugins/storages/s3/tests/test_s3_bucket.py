"""The bucket itself: a missing one is a configuration error (SeaweedFS, like some other servers, would create it on
the first PUT while the log says "stored"), created only with `create_bucket: yes`; the storage names it."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from corral import StorageError
from corral.testing.cli import corral, local_storage, write_main
from corral.testing.storage_contract import open_storage
from corral_testservers import S3Server

Entry = Callable[..., dict[str, Any]]


def client(s3_server: S3Server) -> Any:
    return botocore.session.get_session().create_client("s3", **s3_server.client_kwargs())


def bucket_exists(s3_server: S3Server, bucket: str) -> bool:
    try:
        client(s3_server).head_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return False
        raise
    return True


@pytest.fixture
def new_bucket(s3_server: S3Server) -> Iterator[str]:
    """A bucket name nobody created yet; removed with its objects afterwards if a test created it."""
    name = f"corral-new-{secrets.token_hex(4)}"
    yield name
    if bucket_exists(s3_server, name):
        s3 = client(s3_server)
        for item in s3.list_objects_v2(Bucket=name).get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
        s3.delete_bucket(Bucket=name)


def test_the_test_server_does_create_a_missing_bucket_on_upload(s3_server: S3Server, new_bucket: str) -> None:
    """Why the check exists: a plain PUT into a bucket nobody created succeeds here and makes the bucket."""
    client(s3_server).put_object(Bucket=new_bucket, Key="probe", Body=b"x")
    assert bucket_exists(s3_server, new_bucket)


def test_a_missing_bucket_fails_the_storage_and_is_not_created(
    s3_entry: Entry, s3_server: S3Server, new_bucket: str, tmp_path: Path
) -> None:
    local = tmp_path / "a.tar"
    local.write_bytes(b"archive")
    with pytest.raises(StorageError) as failed:
        storage = open_storage(s3_entry(bucket=new_bucket))
        storage.put(local, f"{storage.root}/a/a_2026-01-01_00-00-00.tar")
    assert str(failed.value) == (f"bucket `{new_bucket}` does not exist at {s3_server.endpoint_url}: create it, or "
                                 "set `create_bucket: yes`")  # fmt: skip
    assert not bucket_exists(s3_server, new_bucket)


def test_a_run_with_a_missing_bucket_fails_that_storage_in_one_line(
    s3_entry: Entry, s3_server: S3Server, new_bucket: str, tmp_path: Path
) -> None:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("hi\n")
    job = {"job": "site", "type": "desc_files", "sources": [{"target": [str(tmp_path / "www")]}],
           "storages": [s3_entry(bucket=new_bucket), local_storage(tmp_path / "local")]}  # fmt: skip
    done = corral("start", "-c", str(write_main(tmp_path, [job])), env={"CORRAL_NOW": "2026-01-31T03:00:00"})
    assert done.returncode == 1, done.stderr
    log = (tmp_path / "log" / "corral.log").read_text()
    for said in (done.stderr, log):
        assert (f"storage s3: cannot connect: bucket `{new_bucket}` does not exist at {s3_server.endpoint_url}: "
                "create it, or set `create_bucket: yes`") in said  # fmt: skip
    assert "storage s3: stored" not in log
    assert "storage local: stored" in log, log
    assert not bucket_exists(s3_server, new_bucket)


@pytest.fixture
def corral_log() -> Iterator[list[str]]:
    """The messages of the `corral` logger (it may not propagate to pytest's caplog once a CLI set it up)."""
    said: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("corral")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield said
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_create_bucket_yes_creates_it_once_and_stores(
    s3_entry: Entry, s3_server: S3Server, new_bucket: str, tmp_path: Path, corral_log: list[str]
) -> None:
    storage = open_storage(s3_entry(bucket=new_bucket, create_bucket=True))
    assert bucket_exists(s3_server, new_bucket)
    assert [m for m in corral_log if "created" in m] == [
        f"s3://{new_bucket}@{s3_server.host}:{s3_server.port}: bucket `{new_bucket}` did not exist; created it "
        "(create_bucket: yes)"
    ]
    local = tmp_path / "a.tar"
    local.write_bytes(b"archive")
    storage.put(local, f"{storage.root}/a/a_2026-01-01_00-00-00.tar")
    assert [f.size for f in storage.list()] == [len(b"archive")]
    corral_log.clear()
    assert len(open_storage(s3_entry(bucket=new_bucket, create_bucket=True)).list()) == 1  # exists now: kept as is
    assert not [m for m in corral_log if "created" in m]


def test_the_storage_names_its_bucket_and_host(s3_entry: Entry, s3_server: S3Server) -> None:
    """``fs.label``, as remote storages have: what the "stored" line and `corral list` should show."""
    storage = open_storage(s3_entry())
    assert storage.fs.label == f"s3://{s3_server.bucket}@{s3_server.host}:{s3_server.port}"
