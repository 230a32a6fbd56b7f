"""Resource limits from ``main:``, inherited by every dump and archive process the run starts.

Always: the lowest CPU priority (nice 19) and best-effort IO class at its lowest level (ionice -c2 -n7), set
on corral's own process so every child inherits them. Where ``block_io_read``, ``block_io_write``,
``blkio_weight`` or ``cpu_shares`` are set, the process moves into a cgroup of its own (v1 ``blkio``/``cpu``
controllers, or v2 ``io``/``cpu``); where the kernel does not allow it, one warning line and the run goes on.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("corral")

CGROUP_ROOT = Path("/sys/fs/cgroup")
_IOPRIO_WHO_PROCESS = 1
_IOPRIO_CLASS_BE = 2
_SYS_IOPRIO_SET = {"x86_64": 251, "aarch64": 30}
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def lower_priority() -> None:
    """nice 19 and IO best-effort level 7 for this process and its future children."""
    with contextlib.suppress(OSError):
        os.nice(19 - os.nice(0))
    number = _SYS_IOPRIO_SET.get(os.uname().machine)
    if number is None:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(number, _IOPRIO_WHO_PROCESS, 0, (_IOPRIO_CLASS_BE << 13) | 7) != 0:
        log.warning("cannot lower the IO priority: %s", os.strerror(ctypes.get_errno()))


def parse_rate(value: str, device_of: Path) -> tuple[str, int]:
    """``'10M'`` -> (device of ``device_of``, bytes/s); ``'8:0 10485760'`` -> ('8:0', 10485760)."""
    value = value.strip()
    match = re.fullmatch(r"(\d+:\d+)\s+(\d+)", value)
    if match:
        return match[1], int(match[2])
    match = re.fullmatch(r"(\d+)\s*([kKmMgG]?)[bB]?(?:/s)?", value)
    if not match:
        raise ValueError(f"`{value}` is not a rate like `10M` or `MAJ:MIN BYTES`")
    dev = device_of.stat().st_dev
    return f"{os.major(dev)}:{os.minor(dev)}", int(match[1]) * _UNITS[match[2].lower()]


def _settings(main: Any) -> dict[str, Any]:
    return {
        key: getattr(main, key)
        for key in ("block_io_read", "block_io_write", "blkio_weight", "cpu_shares")
        if getattr(main, key, None) not in (None, "")
    }


@contextlib.contextmanager
def cgroup_limits(main: Any) -> Iterator[Path | None]:
    """Move this process into a fresh cgroup with the configured limits; yields its path (None if unused)."""
    settings = _settings(main)
    if not settings:
        yield None
        return
    made: list[Path] = []
    try:
        writes = _plan(settings, Path(main.general_path_to_all_tmp_dir))
        for directory, files in writes.items():
            directory.mkdir(exist_ok=True)
            made.append(directory)
            for name, text in files.items():
                (directory / name).write_text(text)
            (directory / "cgroup.procs").write_text(str(os.getpid()))
    except (OSError, ValueError) as exc:
        log.warning("resource limits not applied (cgroups unavailable here: %s); nice/ionice only", exc)
        _leave(made)
        yield None
        return
    try:
        yield made[0] if made else None
    finally:
        _leave(made)


def _plan(settings: dict[str, Any], tmp: Path) -> dict[Path, dict[str, str]]:
    """Which files to write in which new cgroup directories, for v2 (unified) or v1 hierarchies."""
    tmp = tmp if tmp.exists() else Path("/")
    name = f"corral-{os.getpid()}"
    rates = {key: parse_rate(str(settings[key]), tmp) for key in ("block_io_read", "block_io_write") if key in settings}
    if (CGROUP_ROOT / "cgroup.controllers").exists():  # v2
        files: dict[str, str] = {}
        io_max = " ".join(
            f"{'rbps' if key == 'block_io_read' else 'wbps'}={rate}" for key, (_dev, rate) in rates.items()
        )
        if rates:
            files["io.max"] = f"{next(iter(rates.values()))[0]} {io_max}"
        if "blkio_weight" in settings:
            files["io.weight"] = f"default {settings['blkio_weight']}"
        if "cpu_shares" in settings:  # v1 shares 2..262144 map onto v2 weights 1..10000
            files["cpu.weight"] = str(1 + ((int(settings["cpu_shares"]) - 2) * 9999) // 262142)
        return {CGROUP_ROOT / name: files}
    plan: dict[Path, dict[str, str]] = {}
    blkio: dict[str, str] = {}
    for key, (dev, rate) in rates.items():
        kind = "read" if key == "block_io_read" else "write"
        blkio[f"blkio.throttle.{kind}_bps_device"] = f"{dev} {rate}"
    if "blkio_weight" in settings:
        blkio["blkio.weight"] = str(settings["blkio_weight"])
    if blkio:
        plan[CGROUP_ROOT / "blkio" / name] = blkio
    if "cpu_shares" in settings:
        plan[CGROUP_ROOT / "cpu" / name] = {"cpu.shares": str(settings["cpu_shares"])}
    return plan


def _leave(made: list[Path]) -> None:
    """Move back to the parent cgroup and remove the ones this run made."""
    for directory in reversed(made):
        with contextlib.suppress(OSError):
            (directory.parent / "cgroup.procs").write_text(str(os.getpid()))
        with contextlib.suppress(OSError):
            directory.rmdir()
