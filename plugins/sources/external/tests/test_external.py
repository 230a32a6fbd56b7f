"""The external job type: the user's script makes the archive; corral stores it like its own."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from corral.testing.cli import corral, local_storage, write_main

SCRIPT = """#!/usr/bin/env python3
import json, os, sys, tarfile
tmp = os.environ["CORRAL_TMP_DIR"]
snapshot = os.path.join(tmp, "snapshot.db")
with open(snapshot, "w") as f:
    f.write("etcd data\\n")
with tarfile.open(snapshot + ".tar", "w:") as tar:
    tar.add(snapshot, arcname="snapshot.db")
os.unlink(snapshot)
print("some chatter before the JSON")
print(json.dumps({"full_path": snapshot + ".tar", "basename": "etcd", "extension": "tar", "gzip": False}))
"""


def external_job(name: str, dump_cmd: str, backups: Path) -> dict:
    return {"job": name, "type": "external", "dump_cmd": dump_cmd, "storages": [local_storage(backups)]}


def test_script_archive_is_stored_and_restorable(tmp_path: Path) -> None:
    script = tmp_path / "etcd.py"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    backups = tmp_path / "backups"
    main = write_main(tmp_path, [external_job("etcd-external", str(script), backups)])
    done = corral("start", "-c", str(main), env={"CORRAL_NOW": "2026-05-01T02:00:00"})
    assert done.returncode == 0, done.stderr
    archive = backups / "etcd-external" / "etcd" / "etcd_2026-05-01_02-00-00.tar"
    listing = subprocess.run(["tar", "-xOf", str(archive), "snapshot.db"], capture_output=True, text=True, check=True)
    assert listing.stdout == "etcd data\n"
    assert not list((tmp_path / "tmp").rglob("snapshot*")), "the script's archive is removed after storing"


@pytest.mark.parametrize(
    ("dump_cmd", "message"),
    [
        ("echo oops >&2; exit 3", "dump: dump_cmd exited with code 3: oops"),
        ("echo not json", "dump: dump_cmd printed no JSON object on stdout"),
        ("echo '{\"full_path\": \"/nonexistent/x.tar\", \"basename\": \"x\", \"extension\": \"tar\"}'",
         "dump: dump_cmd reported `/nonexistent/x.tar`, which is not a file"),
        ("echo '{\"full_path\": \"/etc/hostname\", \"extension\": \"tar\"}'",
         "dump: dump_cmd's JSON lacks a non-empty string `basename`"),
    ],
)
def test_failures_are_one_line_and_other_jobs_run(tmp_path: Path, dump_cmd: str, message: str) -> None:
    good = tmp_path / "good.sh"
    good.write_text('#!/bin/sh\necho data > "$CORRAL_TMP_DIR/d.txt"\n'
                    'echo \'{"full_path": "\'$CORRAL_TMP_DIR\'/d.txt", "basename": "d", "extension": "txt", '
                    '"gzip": false}\'\n')
    good.chmod(0o755)
    backups = tmp_path / "backups"
    main = write_main(tmp_path, [external_job("bad", dump_cmd, backups), external_job("good", str(good), backups)])
    done = corral("start", "-c", str(main))
    assert done.returncode == 1
    assert f"[ERROR] [bad] {message}" in done.stderr
    assert "Traceback" not in done.stderr
    assert [p.name.split("_")[0] for p in (backups / "good").rglob("*.txt")] == ["d"]


def test_gzip_flag_names_the_file_gz(tmp_path: Path) -> None:
    report = {"full_path": str(tmp_path / "x.sql.gz"), "basename": "x", "extension": "sql", "gzip": True}
    (tmp_path / "x.sql.gz").write_bytes(b"\x1f\x8b")
    backups = tmp_path / "backups"
    main = write_main(tmp_path, [external_job("e", f"echo '{json.dumps(report)}'", backups)])
    assert corral("start", "-c", str(main)).returncode == 0
    assert [p.suffixes[-2:] for p in backups.rglob("x_*")] == [[".sql", ".gz"]]
