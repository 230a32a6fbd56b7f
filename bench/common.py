"""Shared benchmark helpers: generated trees, timing, and the peak RSS of a process (not its children)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CORRAL = [sys.executable, "-m", "corral"]


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float
    returncode: int


def run_measured(command: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run a command; sample its own VmRSS every 10 ms (its children are the tools it drives, measured apart)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        status = Path(f"/proc/{process.pid}/status")
        while not stop.is_set():
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        peak = max(peak, int(line.split()[1]))
            except (OSError, ValueError):
                pass
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    returncode = process.wait()
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    return Measured(seconds, peak / 1024, returncode)


def first_archive(config: Path, work: Path, pattern: str) -> Path:
    """Run ``corral start`` with ``config`` at a fixed time; the archive it stored under ``work/backups`` whose
    name matches ``pattern`` (its log, ``work/corral.log``, in the error if the run failed)."""
    made = run_measured([*CORRAL, "start", "-c", str(config)], env={"CORRAL_NOW": "2026-01-31T03:00:00"})
    assert made.returncode == 0, (work / "corral.log").read_text()[-2000:]
    return next((work / "backups").rglob(pattern))


def print_timed(command: list[str]) -> None:
    """Run ``command`` and print each line it says with the seconds since its start (where the time goes)."""
    started = time.monotonic()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as said:
        for line in said.stdout or []:
            print(f"  {time.monotonic() - started:6.2f}  {line.rstrip()}")


def make_sites(root: Path, sites: int, small_files: int, large_files: int, large_mb: int, seed: int = 1) -> int:
    """Web sites: many small compressible files in nested folders, a few large incompressible ones."""
    rng = random.Random(seed)
    total = 0
    words = [b"<?php", b"echo", b"function", b"$this->", b"return", b"array(", b"bitrix", b"include"]
    for s in range(sites):
        site = root / f"site-{s}.example"
        for f in range(small_files):
            folder = site / f"dir{f % 50}" / f"sub{f % 7}"
            folder.mkdir(parents=True, exist_ok=True)
            body = b" ".join(rng.choice(words) for _ in range(rng.randint(50, 600)))
            (folder / f"file{f}.php").write_bytes(body)
            total += len(body)
        for f in range(large_files):
            (site / "upload").mkdir(parents=True, exist_ok=True)
            with (site / "upload" / f"video{f}.mp4").open("wb") as handle:
                for _ in range(large_mb):
                    handle.write(os.urandom(1024 * 1024))
            total += large_mb * 1024 * 1024
    return total
