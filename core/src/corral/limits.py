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


_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 128 * 1024


def bound_heap() -> None:
    """Give every buffer of 128 KiB or more back to the system when it is freed (glibc's ``mallopt``).

    A stream's 1 MiB chunks are made by one thread and freed by others; glibc's default raises its mmap threshold
    after the first such free, and later chunks then land in per-thread heaps that keep their pages: the peak RSS
    of a 1 GiB dump streamed to three storages (bench/stream_three.py) varied from 128 to 161 MB with it, and from
    118 to 130 MB with a fixed threshold.
    Elsewhere than glibc this does nothing.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)


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
def cgroup_limits(main: Any) -> Iterator[list[Path]]:
    """Move this process into fresh cgroups with the configured limits; yields the cgroups it joined.

    Each setting the kernel refuses costs one warning line; the others still apply.
    """
    settings = _settings(main)
    joined: list[Path] = []
    if not settings:
        yield joined
        return
    try:
        plan = _plan(settings, Path(main.general_path_to_all_tmp_dir))
    except (OSError, ValueError) as exc:
        log.warning("resource limits not applied: %s; nice/ionice only", exc)
        plan = {}
    for directory, files in plan.items():
        try:
            directory.mkdir(exist_ok=True)
        except OSError as exc:
            log.warning("resource limits %s not applied: cannot create cgroup `%s`: %s",
                        ", ".join(setting for setting, _name, _text in files), directory, exc.strerror)
            continue
        applied = False
        for setting, name, text in files:
            try:
                (directory / name).write_text(text)
                applied = True
            except OSError as exc:
                log.warning("resource limit `%s` not applied: this kernel refuses `%s`: %s",
                            setting, directory / name, exc.strerror)
        try:
            if not applied:
                raise OSError(0, "nothing to apply")
            (directory / "cgroup.procs").write_text(str(os.getpid()))
            joined.append(directory)
        except OSError:
            _leave([directory])
    try:
        yield joined
    finally:
        _leave(joined)


Plan = dict[Path, list[tuple[str, str, str]]]


def _plan(settings: dict[str, Any], tmp: Path) -> Plan:
    """(setting, file, value) to write in which new cgroup directories, for v2 (unified) or v1 hierarchies."""
    tmp = tmp if tmp.exists() else Path("/")
    name = f"corral-{os.getpid()}"
    rates = {key: parse_rate(str(settings[key]), tmp) for key in ("block_io_read", "block_io_write") if key in settings}
    if (CGROUP_ROOT / "cgroup.controllers").exists():  # v2
        writes: list[tuple[str, str, str]] = []
        for key, (dev, rate) in rates.items():
            writes.append((key, "io.max", f"{dev} {'rbps' if key == 'block_io_read' else 'wbps'}={rate}"))
        if "blkio_weight" in settings:
            writes.append(("blkio_weight", "io.weight", f"default {settings['blkio_weight']}"))
        if "cpu_shares" in settings:  # v1 shares 2..262144 map onto v2 weights 1..10000
            weight = 1 + ((int(settings["cpu_shares"]) - 2) * 9999) // 262142
            writes.append(("cpu_shares", "cpu.weight", str(weight)))
        return {CGROUP_ROOT / name: writes}
    plan: Plan = {}
    blkio: list[tuple[str, str, str]] = [
        (key, f"blkio.throttle.{'read' if key == 'block_io_read' else 'write'}_bps_device", f"{dev} {rate}")
        for key, (dev, rate) in rates.items()
    ]
    if "blkio_weight" in settings:
        weight_file = "blkio.weight" if (CGROUP_ROOT / "blkio" / "blkio.weight").exists() else "blkio.bfq.weight"
        blkio.append(("blkio_weight", weight_file, str(settings["blkio_weight"])))
    if blkio:
        plan[CGROUP_ROOT / "blkio" / name] = blkio
    if "cpu_shares" in settings:
        plan[CGROUP_ROOT / "cpu" / name] = [("cpu_shares", "cpu.shares", str(settings["cpu_shares"]))]
    return plan


def _leave(made: list[Path]) -> None:
    """Move back to the parent cgroup and remove the ones this run made."""
    for directory in reversed(made):
        with contextlib.suppress(OSError):
            (directory.parent / "cgroup.procs").write_text(str(os.getpid()))
        with contextlib.suppress(OSError):
            directory.rmdir()
