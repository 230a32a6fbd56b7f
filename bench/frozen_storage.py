#!/usr/bin/env python3
"""A storage frozen mid-job: how long a job of 20 small archives takes with one storage that stopped answering.

The scenario of ``tests/test_dead_storage_e2e.py``, timed: a throwaway OpenSSH sshd and SeaweedFS, a job of 20
archives stored on the remote storage (``timeout: 3``, ``retries: 1``) and on a local folder; the remote server is
frozen (SIGSTOP) with the second archive. Prints the job's time unfrozen and frozen, and the issue's budget
(1.5 x timeout x (retries + 1) on top of the unfrozen time). ``--core DIR`` runs a checkout of another commit
(its core and storage plugins first on ``PYTHONPATH``) to compare before and after::

    .venv/bin/python bench/frozen_storage.py
    git worktree add /tmp/before 1f611f5 && .venv/bin/python bench/frozen_storage.py --core /tmp/before
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corral.testing.cli import corral, local_storage, plugin_site, write_main
from corral_testservers import make_server_root, start_s3, start_sshd
from corral_testservers.faults import server_pids
from tests.test_dead_storage_e2e import MANY, RETRIES, TIMEOUT, _s3, _sftp


def run(kind: str, storage: dict, port: int, root: Path, core: Path | None) -> tuple[float, float]:
    site = plugin_site(root, "sources", "many", MANY)
    paths = [str(site)]
    if core is not None:
        paths = [str(core / "core" / "src"), *(str(core / "plugins" / "storages" / name / "src")
                                                for name in ("ssh", "s3", "local")), *paths]
    env = {"PYTHONPATH": os.pathsep.join(paths)}
    main = write_main(root, [{"job": f"db-{kind}", "type": "many", "storages": [storage, local_storage(root / "l")]}])
    started = time.monotonic()
    corral("start", "-c", str(main), env={**env, "CORRAL_NOW": "2026-03-01T03:00:00"})
    healthy = time.monotonic() - started
    pids = server_pids(port)
    freeze = {"TEST_FREEZE_PIDS": " ".join(map(str, pids))}
    if kind == "sftp":
        freeze["TEST_FREEZE_WHEN"] = storage["backup_dir"]
    started = time.monotonic()
    try:
        corral("start", "-c", str(main), timeout=3600, env={**env, "CORRAL_NOW": "2026-03-02T03:00:00", **freeze})
    finally:
        for pid in server_pids(port):
            os.kill(pid, signal.SIGCONT)
    return healthy, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--core", type=Path, help="a checkout of another commit to run instead of this one")
    args = parser.parse_args()
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        servers = make_server_root()
        sshd = stack.enter_context(start_sshd(servers))
        s3 = stack.enter_context(start_s3(servers))
        budget = 1.5 * TIMEOUT * (RETRIES + 1)
        for kind, (storage, port) in (("sftp", _sftp(sshd)), ("s3", _s3(s3))):
            root = Path(tmp) / kind
            root.mkdir()
            healthy, frozen = run(kind, storage, port, root, args.core)
            print(f"{kind}: unfrozen {healthy:.1f} s, frozen {frozen:.1f} s, budget {healthy + budget:.1f} s "
                  f"(unfrozen + 1.5 x {TIMEOUT} s x {RETRIES + 1})")


if __name__ == "__main__":
    main()
