"""CPU seconds of process groups during a bench, through cgroup v1 ``cpuacct`` (root only).

On a 2-core machine where the receiving servers (sshd, SeaweedFS, the database) run beside the client, wall time
is bounded below by the CPU the whole exchange needs divided by the cores: a leg measured alone has both cores to
itself. These groups say where the CPU went: the client (corral or the standard tool, with its children) and the
servers (the processes listening on the given ports, and whatever they fork while the bench runs).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

ROOT = Path("/sys/fs/cgroup/cpuacct")


class CpuGroup:
    """A cpuacct cgroup; ``seconds()`` is the CPU its processes (and their descendants) used so far."""

    def __init__(self, name: str) -> None:
        self.path = ROOT / f"corral-bench-{name}-{os.getpid()}"
        self.path.mkdir(exist_ok=True)

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(f"{pid}\n")

    def seconds(self) -> float:
        return int((self.path / "cpuacct.usage").read_text()) / 1e9

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` started inside this group (its children inherit the group)."""
        return ["sh", "-c", f'echo $$ > {self.path / "cgroup.procs"} && exec "$@"', "sh", *argv]

    def remove(self) -> None:
        for pid in (self.path / "cgroup.procs").read_text().split():  # back to the root group, then rmdir
            with contextlib.suppress(OSError):
                (ROOT / "cgroup.procs").write_text(f"{pid}\n")
        with contextlib.suppress(OSError):
            self.path.rmdir()


def listeners(ports: list[int]) -> list[int]:
    """Pids of the processes listening on these TCP ports of 127.0.0.1."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    pids: set[int] = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) > 5 and any(fields[3].endswith(f":{port}") for port in ports):
            pids.update(int(part[4:]) for part in fields[5].replace(")", ",").split(",") if part.startswith("pid="))
    return sorted(pids)


@contextlib.contextmanager
def cpu_groups(*names: str) -> Iterator[dict[str, CpuGroup]]:
    groups = {name: CpuGroup(name) for name in names}
    try:
        yield groups
    finally:
        for group in groups.values():
            group.remove()


def available() -> bool:
    return os.geteuid() == 0 and (ROOT / "cpuacct.usage").exists()
