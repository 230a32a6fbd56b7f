"""The textfile folder may belong to node_exporter's user: nothing planted there redirects or stalls root.

corral opened `<textfile>.lock` (and read the textfile) following links and blocking: whoever can write the
folder planted `corral.prom.lock -> /etc/nologin` and root created that file (every non-root login refused), or a
FIFO there and the run hung at its end for ever, holding the run lock, so that every later run stopped at "another
corral run is in progress" (reproduced with `runuser -u nobody` on the landed code).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from corral.testing.cli import corral

if TYPE_CHECKING:
    from corral.testing.notify import Workspace

NOBODY = 65534


def _folder(workspace: Workspace) -> Path:
    folder = workspace.root / "node_exporter"
    folder.mkdir()
    os.chown(folder, NOBODY, NOBODY)
    return folder


def _start(workspace: Workspace, textfile: Path) -> subprocess.CompletedProcess[str]:
    config = workspace.config({"prometheus_textfile": str(textfile)}, [workspace.job("shop-db")])
    try:
        return corral("start", "-c", str(config), timeout=30)
    except subprocess.TimeoutExpired:
        raise AssertionError("the run never ended: it blocked on what was planted in the textfile folder") from None


@pytest.mark.parametrize("planted", ["corral.prom.lock", "corral.prom"])
def test_a_link_planted_in_the_textfile_folder_is_not_followed(workspace: Workspace, planted: str) -> None:
    folder = _folder(workspace)
    victim = workspace.root / "victim"
    victim.mkdir(mode=0o700)
    (folder / planted).symlink_to(victim / "nologin")
    os.lchown(folder / planted, NOBODY, NOBODY)
    done = _start(workspace, folder / "corral.prom")
    assert not (victim / "nologin").exists(), "root created a file where the planted link pointed"
    assert done.returncode == 0, done.stderr  # the backups went fine; the notifier's failure is in the log
    assert f"cannot write `{folder / 'corral.prom'}`" in done.stderr, done.stderr


@pytest.mark.parametrize("planted", ["corral.prom.lock", "corral.prom"])
def test_a_fifo_planted_in_the_textfile_folder_does_not_stall_the_run(workspace: Workspace, planted: str) -> None:
    folder = _folder(workspace)
    os.mkfifo(folder / planted)
    os.chown(folder / planted, NOBODY, NOBODY)
    done = _start(workspace, folder / "corral.prom")
    assert done.returncode == 0, done.stderr  # the backups went fine; the notifier's failure is in the log
    assert f"cannot write `{folder / 'corral.prom'}`" in done.stderr, done.stderr


def test_a_hard_link_planted_as_the_textfile_is_not_read(workspace: Workspace) -> None:
    """With fs.protected_hardlinks off, a hard link to a root file is a regular file: its lines must not reach
    the log through the parse warning."""
    folder = _folder(workspace)
    secret = workspace.root / "shadow"
    secret.write_text("root:$6$the-hash-of-root:19000::::::\n")
    os.link(secret, folder / "corral.prom")
    done = _start(workspace, folder / "corral.prom")
    assert done.returncode == 0, done.stderr
    assert "the-hash-of-root" not in done.stderr
    assert secret.read_text() == "root:$6$the-hash-of-root:19000::::::\n"

