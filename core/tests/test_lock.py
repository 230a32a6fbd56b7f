"""One run at a time."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from corral.errors import AlreadyRunning
from corral.lock import RunLock


def test_second_lock_is_refused_and_released_after(tmp_path: Path) -> None:
    path = tmp_path / "corral.lock"
    with RunLock(path), pytest.raises(AlreadyRunning, match=r"another corral run is in progress \(pid \d+"):
        RunLock(path).__enter__()
    with RunLock(path):
        pass


def test_stale_lock_file_is_taken_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "corral.lock"
    path.write_text("pid 999999\n")
    caplog.set_level(logging.INFO, logger="corral")
    with RunLock(path):
        assert path.read_text().startswith("pid ")
    assert "taking over the lock" in caplog.text and "pid 999999" in caplog.text
