"""A full disk (tmp or a local storage) fails what it must with one line naming the path, and nothing else."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from corral.testing.cli import CORRAL, local_storage, write_main

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a size-limited tmpfs (root only)")


def test_full_tmp_and_full_storage(tmp_path: Path) -> None:
    site = tmp_path / "site"
    for name, size in (("big", 20_000_000), ("small", 3_000_000)):
        (site / name).mkdir(parents=True)
        (site / name / "blob").write_bytes(os.urandom(size))
    small_tmp, small_store, big_store = (tmp_path / name for name in ("small-tmp", "small-store", "big-store"))
    for folder in (small_tmp, small_store):
        folder.mkdir(mode=0o700)
    source = [{"target": [f"{site}/*/"], "compression": "none"}]
    jobs = [  # `spool: yes`: the archive goes through tmp_dir, as every archive did before streaming
        {"job": "full-tmp", "type": "desc_files", "tmp_dir": str(small_tmp / "work"), "sources": source,
         "storages": [local_storage(big_store, spool=True)]},
        {"job": "full-store", "type": "desc_files", "sources": source,
         "storages": [local_storage(small_store), local_storage(big_store)]},
        # streamed: a 20 MB archive made with 8 MB of tmp_dir (nothing of it is written there)
        {"job": "streamed", "type": "desc_files", "tmp_dir": str(small_tmp / "streamed"), "sources": source,
         "storages": [local_storage(big_store)]},
    ]
    main = write_main(tmp_path, jobs)
    mounts = " && ".join(f"mount -t tmpfs -o size=8m,mode=0700 none {folder}" for folder in (small_tmp, small_store))
    # in a private mount namespace: the size-limited folders vanish with the command
    command = f"{mounts} && {shlex.join([*CORRAL, 'start', '--verbose', '-c', str(main)])} >&2; echo exit=$? >&2; " \
              f"find {small_tmp} {small_store} -type f"
    done = subprocess.run(["unshare", "-m", "sh", "-c", command], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")})
    assert "exit=1" in done.stderr, done.stderr
    log = (tmp_path / "log" / "corral.log").read_text()
    errors = [line for line in log.splitlines() if "[ERROR]" in line and "job finished" not in line
              and "run finished" not in line]
    assert len(errors) == 2, log
    tmp_error, store_error = errors
    assert "[full-tmp] target big: the temp file for local could not be written: " in tmp_error
    assert f"`{small_tmp}/work/.corral-work-" in tmp_error and "is full: " in tmp_error
    assert "[full-store] storage local: target big: upload failed: " in store_error
    assert "No space left on device" in store_error and f"{small_store}/full-store/big/" in store_error

    # nothing under a final name that is not whole, no temp file left behind on the full mounts
    # what the full mounts held before they vanished with the namespace (and the manifest of what was stored)
    left = [path for path in done.stdout.split() if "/.manifests/" not in path and "/.runs/" not in path]
    assert len(left) == 1 and re.fullmatch(rf"{small_store}/full-store/small/small_[\d_-]+\.tar", left[0]), left
    # the other target, the other storage and the other job went on
    stored = sorted(path.relative_to(big_store).parts[:2] for path in big_store.rglob("*.tar"))
    assert stored == [("full-store", "big"), ("full-store", "small"), ("full-tmp", "small"), ("streamed", "big"),
                      ("streamed", "small")]
    assert "Traceback" not in done.stderr


def test_a_tmp_dir_too_full_for_a_work_folder_fails_that_job_only(tmp_path: Path) -> None:
    """A disk so full (here: out of inodes) that not even the job's work folder can be made: that job fails in
    one line naming the folder, the next job runs (it was a traceback that ended the whole run)."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("hello\n")
    full = tmp_path / "full-tmp"
    full.mkdir(mode=0o700)
    source = [{"target": [str(tmp_path / "site")]}]
    jobs = [{"job": "first", "type": "desc_files", "tmp_dir": str(full / "first"), "sources": source,
             "storages": [local_storage(tmp_path / "b")]},
            {"job": "second", "type": "desc_files", "sources": source, "storages": [local_storage(tmp_path / "b")]}]
    main = write_main(tmp_path, jobs)
    fill = f"mkdir {full}/first && i=0; while touch {full}/first/f$i 2>/dev/null; do i=$((i+1)); done"
    command = f"mount -t tmpfs -o size=8m,nr_inodes=16,mode=0700 none {full} && {fill}; " \
              f"{shlex.join([*CORRAL, 'start', '--verbose', '-c', str(main)])}; echo exit=$? >&2"
    done = subprocess.run(["unshare", "-m", "sh", "-c", command], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")})
    assert "exit=1" in done.stderr and "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if "[ERROR] [first]" in line and "job finished" not in line]
    assert len(errors) == 1 and f"`{full}/first`" in errors[0] and "No space left on device" in errors[0], errors
    assert "[second] job finished successfully" in done.stderr
