"""Find server binaries and modules; skip (in CI: fail) naming the package to install when one is missing."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import NoReturn

import pytest

_SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")


def in_ci() -> bool:
    """True when the environment says this is a CI run (``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def missing(what: str, install: str) -> NoReturn:
    """Skip the test because ``what`` is not installed; in CI fail instead, never a silent skip."""
    message = f"{what} is not available: install it with `{install}`"
    if in_ci():
        pytest.fail(f"{message} (CI=true: missing server software is an error)", pytrace=False)
    pytest.skip(message)


def require_executable(name: str, *, apt: str) -> str:
    """Absolute path of a system executable, looked up on PATH and in the sbin directories."""
    found = shutil.which(name)
    if found is None:
        for directory in _SBIN_DIRS:
            candidate = Path(directory) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                found = str(candidate)
                break
    if found is None:
        missing(f"`{name}`", f"apt-get install -y {apt}")
    return found


def require_script(name: str, *, pip: str) -> str:
    """Absolute path of an executable installed by a Python package (venv ``bin`` first, then PATH)."""
    for directory in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        missing(f"`{name}`", f"pip install {pip}")
    return found


def require_module(module: str, *, pip: str) -> None:
    """Make sure a Python module can be imported by this interpreter (and so by server subprocesses)."""
    if importlib.util.find_spec(module) is None:
        missing(f"Python module `{module}`", f"pip install {pip}")


def require_file(path: str | Path, *, what: str, apt: str) -> Path:
    """A file that a server loads at run time (a plugin library, say)."""
    path = Path(path)
    if not path.exists():
        missing(what, f"apt-get install -y {apt}")
    return path


def require_root(what: str) -> None:
    """Servers that switch users or add Unix users need root."""
    if os.geteuid() != 0:
        message = f"{what} needs root (it creates Unix users or switches to them)"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
