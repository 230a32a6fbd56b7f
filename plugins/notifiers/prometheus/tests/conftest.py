"""Real ``corral start`` runs in a temp dir."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from corral.testing.cli import corral, local_storage, write_main

NOW = "2026-01-31T03:00:00"
DUMP = """#!/bin/sh
# An external job's dump: a small file, described in JSON on stdout.
set -e
printf 'dump of %s\\n' "$CORRAL_JOB" > "$CORRAL_TMP_DIR/$CORRAL_JOB.sql"
printf '{"full_path": "%s", "basename": "%s", "extension": "sql", "gzip": false}\\n' \\
  "$CORRAL_TMP_DIR/$CORRAL_JOB.sql" "$CORRAL_JOB"
"""


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    log: str

    def hides(self, secret: str) -> bool:
        return secret not in self.log and secret not in self.stderr and secret not in self.stdout


class Workspace:
    """A temp dir with a dump script, a regular file that breaks a storage, and ``corral start`` runs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dump = root / "dump.sh"
        self.dump.write_text(DUMP)
        self.dump.chmod(0o755)
        self.blocker = root / "not-a-dir"
        self.blocker.write_text("a regular file where a backup folder should be")

    def job(self, name: str, *, broken_storage: bool = False) -> dict[str, Any]:
        """An external job on a working local storage, plus (``broken_storage``) one whose folder is a file."""
        storages = [local_storage(self.root / "backups")]
        if broken_storage:
            storages.append(local_storage(self.blocker / "backups"))
        return {"job": name, "type": "external", "dump_cmd": str(self.dump), "storages": storages}

    def start(self, main: dict[str, Any], jobs: list[dict[str, Any]], job: str = "all", now: str = NOW) -> Run:
        config = write_main(self.root, jobs, **{"server_name": "web1", **main})
        log = self.root / "log" / "corral.log"
        log.unlink(missing_ok=True)
        done = corral("start", "-c", str(config), job, env={"CORRAL_NOW": now}, timeout=120)
        return Run(done.returncode, done.stdout, done.stderr, log.read_text() if log.exists() else "")


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)
