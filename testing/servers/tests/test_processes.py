import time
from pathlib import Path

import pytest

from corral_testservers.processes import ServerStartError, running, spawn, stop


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_server_that_dies_fails_with_its_log_tail(tmp_path: Path) -> None:
    with (
        pytest.raises(ServerStartError, match=r"(?s)exited during startup with code 3.*boom"),
        running(["sh", "-c", "echo boom; exit 3"], what="fake", log=tmp_path / "fake.log",
                ready=lambda: False, timeout=10),
    ):  # fmt: skip
        pass


def test_server_that_never_gets_ready_times_out(tmp_path: Path) -> None:
    with (
        pytest.raises(ServerStartError, match="not ready after"),
        running(["sleep", "30"], what="fake", log=tmp_path / "fake.log", ready=lambda: False, timeout=0.3),
    ):
        pass


def test_stop_kills_what_ignores_sigterm_and_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    proc = spawn(["sh", "-c", f"trap '' TERM; sleep 60 & echo $! > {pidfile}; wait"], tmp_path / "log")
    deadline = time.monotonic() + 5
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    child = int(pidfile.read_text())
    stop(proc, grace=0.3)
    assert proc.returncode is not None
    deadline = time.monotonic() + 5  # SIGKILL is delivered asynchronously
    while _alive(child):
        assert time.monotonic() < deadline, "child of the stopped server survived"
        time.sleep(0.02)
