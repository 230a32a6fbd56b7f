"""S3 failures as one line a user can act on; the server's answer is never echoed verbatim (no secrets)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError, HTTPClientError, NoCredentialsError
from botocore.exceptions import ConnectionError as BotoConnectionError

from corral import StorageError, StorageUnreachable
from corral_storage_s3.upload import StalledRequest

AUTH_CODES = {
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "TokenRefreshRequired",
    "AuthorizationHeaderMalformed", "InvalidSecurity",
}  # fmt: skip


def _client_error(exc: BaseException) -> ClientError | None:
    seen = exc
    for _ in range(5):
        if isinstance(seen, ClientError):
            return seen
        if seen.__cause__ is None:
            return None
        seen = seen.__cause__
    return None


def error_code(exc: BaseException) -> str:
    """The S3 error code behind ``exc`` (``NoSuchBucket``...), or ""."""
    client = _client_error(exc)
    return str(client.response.get("Error", {}).get("Code", "")) if client is not None else ""


def explain(exc: BaseException, bucket: str, endpoint: str) -> StorageError | None:
    """A :class:`StorageError` for failures with a known cause, else None (the error stays as it is)."""
    client = _client_error(exc)
    if client is not None:
        code = str(client.response.get("Error", {}).get("Code", ""))
        if code in AUTH_CODES:
            return StorageError(f"S3 at {endpoint} rejected the credentials ({code}): check `access_key_id` and "
                                "`secret_access_key`")  # fmt: skip
        if code in {"AccessDenied", "AllAccessDisabled"}:
            return StorageError(f"S3 at {endpoint} denied access to bucket `{bucket}` ({code}): the key needs "
                                "List, Get, Put and Delete on it")  # fmt: skip
        if code == "NoSuchBucket":
            return StorageError(f"bucket `{bucket}` does not exist at {endpoint}: create it, or set "
                                "`create_bucket: yes`")  # fmt: skip
        return None
    if isinstance(exc, NoCredentialsError):
        return StorageError("no S3 credentials: set `access_key_id` and `secret_access_key` (or AWS_* variables)")
    if isinstance(exc, BotoConnectionError | HTTPClientError | StalledRequest):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StorageUnreachable(f"S3 at {endpoint} is unreachable: {first}")
    return None


@contextmanager
def s3_errors(bucket: str, endpoint: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        explained = explain(exc, bucket, endpoint)
        if explained is None:
            raise
        raise explained from None
