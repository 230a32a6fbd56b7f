"""One run at a time, stale locks, and orderly SIGTERM/SIGINT handling, with real processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from corral.testing.cli import CORRAL, corral, local_storage, write_main
from tests.conftest import script

if TYPE_CHECKING:
    from corral.testing.notify import HTTPSink


def slow_job(tmp_path: Path, seconds: int) -> Path:
    """A config whose only job writes a partial file, records its pid, then sleeps."""
    dump = script(tmp_path / "slow.sh", f'echo $$ > {tmp_path}/child.pid\n'
                  f'head -c 1000000 /dev/zero > "$CORRAL_TMP_DIR/partial.bin"\n'
                  f'sleep {seconds} &\necho $! > {tmp_path}/grandchild.pid\nwait\n')
    job = {"job": "slow", "type": "external", "dump_cmd": dump, "storages": [local_storage(tmp_path / "b")]}
    return write_main(tmp_path, [job])


def start_background(main: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    return subprocess.Popen([*CORRAL, "start", "--verbose", "-c", str(main)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def wait_for(path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.05)


def test_second_start_exits_at_once_while_one_runs(tmp_path: Path) -> None:
    main = slow_job(tmp_path, 30)
    first = start_background(main)
    try:
        wait_for(tmp_path / "child.pid")
        started = time.monotonic()
        second = corral("start", "-c", str(main))
        assert time.monotonic() - started < 10
        assert second.returncode == 3
        assert f"another corral run is in progress (pid {first.pid}" in second.stderr
        assert "another corral run is in progress" in (tmp_path / "log" / "corral.log").read_text()
        # verify and drill wait their turn too: an archive being written has no manifest yet
        for command in ("verify", "drill"):
            other = corral(command, "-c", str(main))
            assert other.returncode == 3, (command, other.stdout, other.stderr)
            assert f"another corral run is in progress (pid {first.pid}" in other.stdout + other.stderr
    finally:
        first.kill()
        first.wait()
        os.killpg(int((tmp_path / "child.pid").read_text()), signal.SIGKILL)


def gone(pid: int) -> bool:
    """The process ended (a zombie waiting for init to reap it counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_kill_9_takes_the_dump_with_it_and_the_next_run_cleans_up(tmp_path: Path) -> None:
    main = slow_job(tmp_path, 300)
    first = start_background(main)
    wait_for(tmp_path / "grandchild.pid")
    child, grandchild = (int((tmp_path / name).read_text()) for name in ("child.pid", "grandchild.pid"))
    try:
        first.kill()
        first.wait()
        assert wait_until(lambda: gone(child)), "the dump script outlived corral's kill -9"
        left = list((tmp_path / "tmp" / "slow").glob(".corral-work-*"))
        assert len(left) == 1 and (left[0] / "partial.bin").stat().st_size == 1_000_000
        (tmp_path / "slow.sh").write_text("#!/bin/sh\n" + 'echo x > "$CORRAL_TMP_DIR/x"\n'
                                          'echo "{\\"full_path\\": \\"$CORRAL_TMP_DIR/x\\", \\"basename\\": \\"x\\", '
                                          '\\"extension\\": \\"txt\\"}"\n')
        again = corral("start", "--verbose", "-c", str(main))
        assert again.returncode == 0, again.stderr
        assert f"taking over the lock `{tmp_path}/tmp/corral.lock` left by a run that ended without releasing it " \
               f"(pid {first.pid}, started " in again.stderr
        # the script's own child escaped the kernel's parent-death signal: the next run ends it
        assert f"killed pid {grandchild} (`sleep`), left running by a run that died" in again.stderr
        assert wait_until(lambda: gone(grandchild))
        assert f"removed `{left[0]}` (1000000 bytes), the work folder of run pid {first.pid} that died" in again.stderr
        assert not left[0].exists()
        assert list((tmp_path / "tmp" / "slow").iterdir()) == []
    finally:
        for pid in (child, grandchild):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleans_and_releases(tmp_path: Path, signum: int) -> None:
    main = slow_job(tmp_path, 60)
    run = start_background(main)
    wait_for(tmp_path / "grandchild.pid")
    started = time.monotonic()
    run.send_signal(signum)
    _, stderr = run.communicate(timeout=30)
    assert time.monotonic() - started < 15
    assert run.returncode == 128 + signum
    assert f"[ERROR] run interrupted by signal {signum} after " in stderr
    assert "s (no job done; cut short or failed: slow); 0 archive(s) were stored before it (0 cop(ies) in all); " \
        "programs stopped, work folders removed, lock released" in stderr
    assert not list((tmp_path / "tmp").rglob("partial.bin"))
    for pidfile in ("child.pid", "grandchild.pid"):
        pid = int((tmp_path / pidfile).read_text())
        assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    assert (tmp_path / "tmp" / "corral.lock").read_text() == ""
    assert "Traceback" not in stderr
    from corral.lock import RunLock

    with RunLock(tmp_path / "tmp" / "corral.lock"):
        pass


def test_a_busy_lock_is_notified_with_the_holder(tmp_path: Path, http_sink: HTTPSink) -> None:
    """A hung run silently blocked every later night: the blocked run now tells the admins, as a failure."""
    main = slow_job(tmp_path, 30)
    first = start_background(main)
    try:
        wait_for(tmp_path / "child.pid")
        settings = yaml.safe_load(main.read_text())
        settings["main"].update(webhook_urls=[f"{http_sink.url}/hook"], healthcheck_url=f"{http_sink.url}/ping")
        main.write_text(yaml.safe_dump(settings))
        second = corral("start", "-c", str(main))
        assert second.returncode == 3
        holder = f"another corral run is in progress (pid {first.pid}, started "
        assert second.stdout.startswith(f"NOT RUN: {holder}")
        assert http_sink.paths() == ["/hook", "/ping/fail"]
        report = json.loads(http_sink.requests[0].body)
        assert report["ok"] is False
        assert report["summary"].startswith(f"corral on test-server: backup NOT RUN: {holder}")
    finally:
        first.kill()
        first.wait()


@pytest.mark.parametrize("minutes", [0.5, 0.03])
def test_lock_wait_waits_for_the_holder_then_gives_up(tmp_path: Path, minutes: float) -> None:
    main = slow_job(tmp_path, 4)
    settings = yaml.safe_load(main.read_text())
    settings["main"]["lock_wait"] = minutes
    main.write_text(yaml.safe_dump(settings))
    first = start_background(main)
    try:
        wait_for(tmp_path / "child.pid")
        started = time.monotonic()
        second = corral("start", "--verbose", "-c", str(main))
        waited = time.monotonic() - started
        assert f"waiting up to {minutes:g} minute(s) (lock_wait)" in second.stderr
        if minutes == 0.5:  # the holder ends after ~4 s: this run goes on (its slow job reports no archive)
            assert second.returncode == 1, second.stderr
            assert "run started: all (1 job(s))" in second.stderr
        else:  # 1.8 s is not enough
            assert second.returncode == 3
            assert f"; waited {minutes:g} minute(s) (lock_wait); this one exits" in second.stderr
            assert waited >= minutes * 60
    finally:
        first.kill()
        first.wait()
