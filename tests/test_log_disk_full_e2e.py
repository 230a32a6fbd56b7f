"""The log file's disk is full: the backups go on, stderr says so in one line, never a traceback per record."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from corral.testing.cli import CORRAL, local_storage, write_main

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a size-limited tmpfs (root only)")


def test_a_full_log_disk_is_one_line_and_the_backups_go_on(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("hello\n")
    log_dir = tmp_path / "log"
    log_dir.mkdir(mode=0o700)
    jobs = [{"job": name, "type": "desc_files", "sources": [{"target": [str(tmp_path / "site")]}],
             "storages": [local_storage(tmp_path / "b")]} for name in ("one", "two")]
    main = write_main(tmp_path, jobs)
    fill = f"head -c 64k /dev/zero > {log_dir}/filler 2>/dev/null"  # the 16 KiB tmpfs is full before the run
    command = (f"mount -t tmpfs -o size=16k,mode=0700 none {log_dir} && ({fill}; true) && "
               f"{shlex.join([*CORRAL, 'start', '--verbose', '-c', str(main)])}")
    done = subprocess.run(["unshare", "-m", "sh", "-c", command], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Logging error" not in done.stderr, done.stderr[:3000]
    said = [line for line in done.stderr.splitlines() if "cannot write the log file" in line]
    assert len(said) == 1, done.stderr
    assert f"`{log_dir}/corral.log`" in said[0] and "No space left on device" in said[0]
    assert "[two] job finished successfully" in done.stderr
    assert sorted(p.parent.parent.name for p in (tmp_path / "b").rglob("*.tar")) == ["one", "two"]


def test_a_full_lock_disk_is_one_line_and_the_backups_go_on(tmp_path: Path) -> None:
    """The lock file exists (an earlier run made it) and its disk is full: the flock still guards the run; the
    record that cannot be written is one warning, never a traceback that stops every backup."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("hello\n")
    lock_dir = tmp_path / "run"
    lock_dir.mkdir(mode=0o700)
    job = {"job": "one", "type": "desc_files", "sources": [{"target": [str(tmp_path / "site")]}],
           "storages": [local_storage(tmp_path / "b")]}
    main = write_main(tmp_path, [job], lock_file=str(lock_dir / "corral.lock"))
    prepare = f"touch {lock_dir}/corral.lock && chmod 600 {lock_dir}/corral.lock && " \
              f"(head -c 64k /dev/zero > {lock_dir}/filler 2>/dev/null; true)"
    command = (f"mount -t tmpfs -o size=16k,mode=0700 none {lock_dir} && {prepare} && "
               f"{shlex.join([*CORRAL, 'start', '--verbose', '-c', str(main)])}")
    done = subprocess.run(["unshare", "-m", "sh", "-c", command], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    said = [line for line in done.stderr.splitlines() if "cannot write the lock record" in line]
    assert len(said) == 1 and f"`{lock_dir}/corral.lock`" in said[0] and "No space left on device" in said[0]
    assert list((tmp_path / "b").rglob("*.tar"))
