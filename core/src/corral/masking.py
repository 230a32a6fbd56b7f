"""Masking the config's secrets in every text that leaves the process.

A failing client program may echo its password (``pg_dump`` with the password in a connection string, a
script that prints its environment): that text becomes a log line, a job error, a storage failure. The log
filter and :meth:`Masker.scrub`, applied to a job's result before ``corral_job_finished`` and to the run's
result before ``corral_run_finished`` and the summary on stdout, replace every configured secret value with
:data:`MASK`, whatever its length: a short secret also masks ordinary text, which ``corral check`` warns about.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any

MASK = "*****"
SHORT_SECRET = 6  # a secret shorter than this also masks ordinary words and numbers; `corral check` says so


class Masker:
    """Replaces every secret with :data:`MASK` in one pass (longest first, so a secret inside another goes too)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = sorted({secret for secret in secrets if secret}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, values))) if values else None

    def __call__(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)

    def scrub(self, result: Any) -> None:
        """Mask every text a result dataclass carries (errors, failures, paths, log entries), in place."""
        if self._pattern is not None:
            for item in dataclasses.fields(result):
                setattr(result, item.name, self._masked(getattr(result, item.name)))

    def _masked(self, value: Any) -> Any:
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self._masked(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self._masked(item) for item in value)
        if isinstance(value, dict):
            return {self._masked(key): self._masked(item) for key, item in value.items()}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            if type(value).__dataclass_params__.frozen:  # type: ignore[attr-defined]
                return dataclasses.replace(
                    value, **{f.name: self._masked(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
                )
            self.scrub(value)
        return value
