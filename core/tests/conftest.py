from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a main file (and job files under conf.d/) from YAML texts; returns the main file's path."""

    def write(main: str, **job_files: str) -> Path:
        (tmp_path / "conf.d").mkdir(exist_ok=True)
        for name, text in job_files.items():
            (tmp_path / "conf.d" / f"{name}.conf").write_text(text)
        path = tmp_path / "corral.conf"
        path.write_text(main)
        return path

    return write
