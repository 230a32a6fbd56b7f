"""Running the real ``corral`` command in tests, and writing configs in the article's format."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

CORRAL = [sys.executable, "-m", "corral"]


def corral(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run ``corral ARGS`` in a subprocess, capturing text output (``env`` adds to a clean environment)."""
    full_env = {key: value for key, value in os.environ.items() if not key.startswith("CORRAL_")}
    full_env.update(env or {})
    return subprocess.run([*CORRAL, *args], capture_output=True, text=True, env=full_env, timeout=timeout, **kwargs)


def refusals(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The problems a configuration was refused for: the ``corral: error:`` lines of ``corral check`` or of a broken
    main file (exit 2), or the problems of the jobs ``corral start`` could not run (exit 1, the other jobs ran)."""
    if done.returncode == 2:
        return [line.removeprefix("corral: error: ") for line in done.stderr.splitlines()]
    marker = " job cannot run: "
    return [line.split(marker, 1)[1] for line in done.stderr.splitlines() if marker in line]


def write_main(tmp_path: Path, jobs: list[dict[str, Any]], **main: Any) -> Path:
    """A main file with the given jobs inline; tmp dir, lock and log under ``tmp_path``."""
    settings = {
        "server_name": "test-server",
        "general_path_to_all_tmp_dir": str(tmp_path / "tmp"),
        "log_file_name": str(tmp_path / "log" / "corral.log"),
        **main,
    }
    path = tmp_path / "corral.conf"
    path.write_text(yaml.safe_dump({"main": settings, "jobs": jobs}, sort_keys=False, allow_unicode=True))
    return path


def local_storage(backup_dir: Path, **extra: Any) -> dict[str, Any]:
    return {"storage": "local", "enable": True, "backup_dir": str(backup_dir), **extra}


def plugin_site(root: Path, group: str, name: str, code: str) -> Path:
    """A folder for ``PYTHONPATH`` holding a one-module plugin ``name`` of entry-point ``group`` (``storages``,
    ``sources``...), registered as the distribution ``corral-<kind>-<name>`` 0.1; returns the folder."""
    site = root / "site"
    module = f"corral_test_{name}"
    info = site / f"{module}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: corral-{group.rstrip('s')}-{name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[corral.{group}]\n{name} = {module}\n")
    (site / f"{module}.py").write_text(code)
    return site


def start_in_small_tmp(small: Path, args: list[str], env: dict[str, str] | None = None, size: str = "2m",
                       timeout: float = 300) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """``corral ARGS`` with the folder ``small`` a tmpfs of ``size`` (root only), in a private mount namespace:
    the mount vanishes with the command. ``env`` adds to a clean environment, as :func:`corral`."""
    small.mkdir(mode=0o700, exist_ok=True)
    full_env = {key: value for key, value in os.environ.items() if not key.startswith("CORRAL_")} | (env or {})
    mount = f"mount -t tmpfs -o size={size},mode=0700 none {shlex.quote(str(small))}"
    command = f"{mount} && {shlex.join([*CORRAL, *args])}"
    return subprocess.run(["unshare", "-m", "sh", "-c", command], capture_output=True, text=True, timeout=timeout,
                          env=full_env)


def sigterm_once(marker: Path, args: list[str], env: dict[str, str] | None = None,
                 running: Callable[[], None] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``corral ARGS`` sent SIGTERM as soon as ``marker`` exists (a check that ran ``touch MARKER && exec sleep
    300``); ``running()`` is called just before the signal, to assert what exists while it runs."""
    process = subprocess.Popen([*CORRAL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + timeout
        while not marker.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert marker.exists(), f"`{marker}` never appeared"
        if running is not None:
            running()
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
