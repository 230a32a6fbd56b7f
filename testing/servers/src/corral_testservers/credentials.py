"""Random per-session secrets. They go into 0600 config files, environment variables or stdin, never argv."""

from __future__ import annotations

import secrets
import string


def new_password(nbytes: int = 18) -> str:
    """A random password of URL-safe characters (safe in URLs, config files and chpasswd input)."""
    return secrets.token_urlsafe(nbytes)


def new_access_key(length: int = 20) -> str:
    """A random S3-style access key id (upper-case letters and digits)."""
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))
