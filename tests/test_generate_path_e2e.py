"""`corral generate --path` somewhere it cannot write is one line and leaves no half-written template."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from corral.testing.cli import CORRAL, corral

GENERATE = ["generate", "--type", "desc_files", "--storage", "local", "--path"]


def test_a_file_in_the_way_of_the_path_is_one_line(tmp_path: Path) -> None:
    a_file = tmp_path / "conf.d"
    a_file.write_text("not a folder\n")
    for path in (a_file / "sites.conf", a_file / "sub" / "sites.conf"):
        done = corral(*GENERATE, str(path))
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("corral: error: ") and str(a_file) in lines[0], done.stderr
    assert a_file.read_text() == "not a folder\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a size-limited tmpfs (root only)")
def test_a_full_disk_leaves_no_half_written_template(tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()
    command = (f"mount -t tmpfs -o size=4k none {full} && (head -c 8k /dev/zero > {full}/filler 2>/dev/null; true) "
               f"&& {shlex.join([*CORRAL, *GENERATE, str(full / 'sites.conf')])}; echo exit=$?; ls {full}")
    done = subprocess.run(["unshare", "-m", "sh", "-c", command], capture_output=True, text=True, timeout=60)
    assert "exit=2" in done.stdout, done.stdout + done.stderr
    assert done.stderr.strip() == f"corral: error: cannot write `{full / 'sites.conf'}`: No space left on device"
    assert done.stdout.split()[1:] == ["filler"]  # what the mount held: no sites.conf
