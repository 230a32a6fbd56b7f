"""The codebase stays ruff-clean and the core mypy-clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_ruff() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise", str(ROOT)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_core() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy", "core/src", "plugins/sources/files/src",
                           "plugins/sources/external/src", "plugins/storages/local/src", "console/src"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
