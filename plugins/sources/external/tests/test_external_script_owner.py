"""A `dump_cmd` program another user could change is refused before it runs: it would run as root.

On a shared server the natural `dump_cmd` of a site is the site's own script (`/var/www/site/bin/backup.sh`);
its owner, or anyone who can write its folder, then ran any command as root at the next backup (reproduced on
the landed code). As for the configuration's files, the program a `dump_cmd` starts with (an absolute path) must
belong to root or the running user and be writable by nobody else, and so must the folders on the way to it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corral.testing.cli import corral, local_storage, write_main

NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")


def _script(path: Path, proof: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\ntouch {proof}\nexit 1\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("whose", ["script", "folder"])
def test_a_dump_cmd_program_another_user_controls_is_refused(tmp_path: Path, whose: str) -> None:
    proof = tmp_path / "ran-as-root"
    script = _script(tmp_path / "www" / "site" / "bin" / "backup.sh", proof)
    os.chown(script if whose == "script" else script.parent, NOBODY, NOBODY)
    job = {"job": "site", "type": "external", "dump_cmd": f"{script} --all",
           "storages": [local_storage(tmp_path / "backups")]}
    done = corral("start", "-c", str(write_main(tmp_path, [job])))
    assert not proof.exists(), "root ran a script another user could change"
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if "[ERROR] [site] dump:" in line]
    assert errors and f"dump_cmd: `{script}`" in errors[0] and "`nobody` (uid 65534)" in errors[0], done.stderr


def test_roots_own_script_and_shell_commands_run(tmp_path: Path) -> None:
    proof = tmp_path / "ran"
    script = _script(tmp_path / "bin" / "backup.sh", proof)
    for command in (str(script), f"cd /tmp && {script}", f"'{script}' --all"):
        job = {"job": "site", "type": "external", "dump_cmd": command,
               "storages": [local_storage(tmp_path / "backups")]}
        done = corral("start", "-c", str(write_main(tmp_path, [job])))
        assert proof.exists(), (command, done.stderr)
        proof.unlink()
