"""``corral.restoring.load``: the archive's bytes reach the client whole, through the decompressor its extension
names or straight, and the feeding thread's end of the pipe is never closed twice (communicate() once raised
"flush of closed file" after the pump had closed the decompressor's stdin)."""

from __future__ import annotations

import gzip
import io
import os
from datetime import datetime
from pathlib import Path

import pytest

from corral.restoring import RestoreError, load
from corral.run import RunContext

DATA = os.urandom(3 << 20) + b"end"


def context() -> RunContext:
    return RunContext(now=datetime(2026, 1, 31, 3), main=None, config_path=Path("/nonexistent"))


@pytest.mark.parametrize(("extension", "payload"), [("sql.gz", gzip.compress(DATA)), ("sql", DATA)])
def test_load_feeds_the_client_whole(extension: str, payload: bytes, tmp_path: Path) -> None:
    out = tmp_path / "out"
    load(context(), io.BytesIO(payload), extension, ["dd", f"of={out}", "bs=1M", "status=none"])
    assert out.read_bytes() == DATA


def test_a_corrupted_archive_is_one_line() -> None:
    with pytest.raises(RestoreError, match="gzip failed"):
        load(context(), io.BytesIO(gzip.compress(DATA)[:100_000]), "sql.gz", ["cat"])
