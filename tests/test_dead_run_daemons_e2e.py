"""After a crash the next run ends what the dead run left running, but never a daemon a dump script started.

A snapshot script that stops a database, copies its files and starts it again (`pg_ctl start`, `mysqld_safe &`)
leaves a daemon that inherited the run's id. If corral then dies (OOM, kill -9), the next run must not SIGKILL the
production database: a daemon detaches into a session of its own (setsid), the dead run's programs do not.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from corral.testing.cli import corral, local_storage, write_main
from tests.conftest import script
from tests.test_lock_and_signals_e2e import gone, start_background, wait_for, wait_until


def test_the_next_run_spares_a_daemon_the_dead_run_started(tmp_path: Path) -> None:
    dump = script(tmp_path / "snapshot.sh", f"setsid sleep 300 &\necho $! > {tmp_path}/daemon.pid\n"
                  f"sleep 300 &\necho $! > {tmp_path}/grandchild.pid\nwait\n")
    job = {"job": "snap", "type": "external", "dump_cmd": dump, "storages": [local_storage(tmp_path / "b")]}
    main = write_main(tmp_path, [job])
    first = start_background(main)
    wait_for(tmp_path / "grandchild.pid")
    wait_for(tmp_path / "daemon.pid")
    daemon, grandchild = (int((tmp_path / name).read_text()) for name in ("daemon.pid", "grandchild.pid"))
    try:
        assert wait_until(lambda: os.getsid(daemon) == daemon), "setsid did not detach the daemon"
        first.kill()
        first.wait()
        (tmp_path / "snapshot.sh").write_text("#!/bin/sh\n" + 'echo x > "$CORRAL_TMP_DIR/x"\n'
                                              'echo "{\\"full_path\\": \\"$CORRAL_TMP_DIR/x\\", \\"basename\\": '
                                              '\\"x\\", \\"extension\\": \\"txt\\"}"\n')
        again = corral("start", "--verbose", "-c", str(main))
        assert again.returncode == 0, again.stderr
        assert f"killed pid {grandchild} (`sleep`), left running by a run that died" in again.stderr
        assert wait_until(lambda: gone(grandchild))
        assert not gone(daemon), again.stderr
        assert f"pid {daemon} (`sleep`), started by a run that died, runs in a session of its own" in again.stderr
    finally:
        for pid in (daemon, grandchild):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
