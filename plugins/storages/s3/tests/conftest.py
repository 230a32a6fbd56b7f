"""Storage entries pointing at the session's SeaweedFS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from corral_testservers import S3Server


@pytest.fixture
def s3_entry(s3_server: S3Server) -> Callable[..., dict[str, Any]]:
    """``s3_entry(**overrides)``: an ``s3`` storage entry for the session's bucket (5 MiB parts: small tests)."""

    def make(**extra: Any) -> dict[str, Any]:
        return {
            "storage": "s3", "backup_dir": "/backups", "bucket": s3_server.bucket,
            "endpoint_url": s3_server.endpoint_url, "region": s3_server.region,
            "access_key_id": s3_server.access_key, "secret_access_key": s3_server.secret_key, "part_size": "5M",
            **extra,
        }  # fmt: skip

    return make
