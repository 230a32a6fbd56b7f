"""The keys of an ``s3`` storage entry."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from corral import StorageOptions

MiB = 1024**2
MIN_PART = 5 * MiB  # S3's smallest part (all but the last)
MAX_PART = 5 * 1024**3
_UNITS = {"": 1, "k": 1024, "m": MiB, "g": 1024**3}


def parse_size(value: Any) -> Any:
    """``16M``, ``64MiB``, ``1G`` or a number of bytes."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)(?:i?[bB])?\s*", value)
        if not match:
            raise ValueError(f"`{value}` is not a size like `16M` or a number of bytes")
        return int(match[1]) * _UNITS[match[2].lower()]
    return value


class S3Options(StorageOptions):
    """Where the bucket is, who we are, and how hard to push the upload."""

    bucket: str = Field(
        min_length=3, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="bucket that holds the backups (backup_dir is a key prefix inside it)",
        json_schema_extra={"example": "backups"},
    )  # fmt: skip
    endpoint_url: str | None = Field(
        default=None, pattern=r"^https?://",
        description="S3-compatible endpoint (MinIO, SeaweedFS, Ceph...); unset: AWS",
        json_schema_extra={"example": "https://s3.example.com"},
    )  # fmt: skip
    region: str | None = Field(
        default=None, description="region name; unset: us-east-1 with an endpoint_url, else AWS's default",
        json_schema_extra={"example": "us-east-1"},
    )  # fmt: skip
    access_key_id: str | None = Field(
        default=None, description="access key; unset: the AWS credential chain (env, ~/.aws, instance role)",
        json_schema_extra={"example": "AKIAEXAMPLE"},
    )  # fmt: skip
    secret_access_key: SecretStr | None = Field(
        default=None, description="secret key (never logged)", json_schema_extra={"example": "secret"}
    )
    storage_class: str | None = Field(
        default=None, pattern=r"^[A-Z_]+$", description="storage class of new objects (STANDARD_IA, GLACIER_IR...)",
        json_schema_extra={"example": "STANDARD"},
    )  # fmt: skip
    part_size: int = Field(
        default=8 * MiB, ge=MIN_PART, le=MAX_PART,
        description="multipart part size (`8M`); memory use is about part_size x max_concurrency",
        json_schema_extra={"example": "8M"},
    )  # fmt: skip
    max_concurrency: int = Field(default=6, ge=1, le=64, description="parts uploaded at once (connections)")
    timeout: float = Field(
        default=60, gt=0, le=3600, description="seconds to connect or to wait for an answer before retrying"
    )
    retries: int = Field(
        default=4, ge=0, le=20, description="retries of a request after a network error, timeout, 5xx or throttling"
    )
    create_bucket: bool = Field(
        default=False,
        description="create `bucket` when it does not exist; `no`: a missing bucket fails the storage (some servers "
        "would create it on the first upload, wherever a typo points)",
        json_schema_extra={"example": False},
    )

    _sizes = field_validator("part_size", mode="before")(parse_size)

    @property
    def location(self) -> str:
        """``s3://BUCKET@HOST[:PORT]``: the bucket and the server, for messages."""
        if self.endpoint_url:
            host = urlsplit(self.endpoint_url).netloc
        else:
            host = f"s3.{self.region}.amazonaws.com" if self.region else "s3.amazonaws.com"
        return f"s3://{self.bucket}@{host}"

    @field_validator("endpoint_url")
    @classmethod
    def _no_credentials(cls, url: str | None) -> str | None:
        """Credentials in the URL are not how S3 signs (aiohttp refuses them), and would show in every message."""
        if url is not None and "@" in urlsplit(url).netloc:
            raise ValueError("must not contain credentials; give them as `access_key_id` and `secret_access_key`")
        return url

    @model_validator(mode="after")
    def _keys_in_pairs(self) -> S3Options:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("give both `access_key_id` and `secret_access_key`, or neither (AWS credential chain)")
        return self
