"""The run's notion of now; ``CORRAL_NOW`` (ISO date and time) simulates a calendar in tests and drills."""

from __future__ import annotations

import os
from datetime import datetime

from corral.errors import ConfigError


def now() -> datetime:
    value = os.environ.get("CORRAL_NOW")
    if not value:
        return datetime.now().replace(microsecond=0)
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError([f"CORRAL_NOW={value!r} is not an ISO date and time like 2026-01-31T03:00:00"]) from None
