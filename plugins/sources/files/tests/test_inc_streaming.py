"""inc_files streams its archives: a 20 MB full and then an incremental go through a 2 MiB tmpfs tmp_dir (only
the snapshot lives there), and a tar that fails half-way leaves nothing under a final name anywhere, not even the
snapshot of that level."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from corral.testing.cli import local_storage, start_in_small_tmp, write_main

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a size-limited tmpfs (root only)")


def _start_in_small_tmp(tmp_path: Path, main: Path, date: str, path: str | None = None
                        ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """``corral start -v`` with tmp_dir a 2 MiB tmpfs."""
    return start_in_small_tmp(tmp_path / "small-tmp", ["start", "-v", "-c", str(main)],
                              {"CORRAL_NOW": f"{date}T03:00:00", **({"PATH": path} if path else {})})


def _job(tmp_path: Path, www: Path) -> Path:
    return write_main(tmp_path, [{"job": "inc", "type": "inc_files", "tmp_dir": str(tmp_path / "small-tmp" / "work"),
                                  "sources": [{"target": [f"{www}/*/"], "compression": "none"}],
                                  "storages": [local_storage(tmp_path / "backups")]}])


def test_full_and_incremental_archives_bigger_than_tmp_dir_stream(tmp_path: Path) -> None:
    site = tmp_path / "www" / "site"
    site.mkdir(parents=True)
    (site / "big.bin").write_bytes(os.urandom(20_000_000))
    main = _job(tmp_path, tmp_path / "www")
    first = _start_in_small_tmp(tmp_path, main, "2026-03-01")
    assert first.returncode == 0, first.stderr
    (site / "new.bin").write_bytes(os.urandom(5_000_000))
    second = _start_in_small_tmp(tmp_path, main, "2026-03-02")
    assert second.returncode == 0, second.stderr
    stored = sorted(path.name for path in (tmp_path / "backups" / "inc" / "site" / "2026").iterdir())
    assert stored == ["site_2026-03-01_03-00-00.full.snar", "site_2026-03-01_03-00-00.full.tar",
                      "site_2026-03-02_03-00-00.day.tar"], stored
    full = tmp_path / "backups" / "inc" / "site" / "2026" / "site_2026-03-01_03-00-00.full.tar"
    assert full.stat().st_size > 20_000_000
    listed = subprocess.run(["tar", "-tf", str(tmp_path / "backups" / "inc" / "site" / "2026" /
                                               "site_2026-03-02_03-00-00.day.tar")],
                            capture_output=True, text=True, check=True).stdout.split()
    assert "site/new.bin" in listed and "site/big.bin" not in listed


def test_a_tar_failing_half_way_stores_nothing(tmp_path: Path) -> None:
    site = tmp_path / "www" / "site"
    site.mkdir(parents=True)
    (site / "big.bin").write_bytes(os.urandom(10_000_000))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "tar").write_text(f"#!/bin/bash\n'{shutil.which('tar')}' \"$@\" | head -c 3000000\n"
                                 "echo 'tar: site/big.bin: Read error at byte 0: Input/output error' >&2\nexit 2\n")
    (bin_dir / "tar").chmod(0o755)
    done = _start_in_small_tmp(tmp_path, _job(tmp_path, tmp_path / "www"), "2026-03-01",
                               path=f"{bin_dir}:{os.environ['PATH']}")
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if "[ERROR] [inc] source 1:" in line]
    assert len(errors) == 1, done.stderr
    assert errors[0].endswith(f"source 1: target site: tar failed for `{site}`: tar: site/big.bin: Read error at "
                              "byte 0: Input/output error; nothing was stored"), errors[0]
    assert not [path for path in (tmp_path / "backups").rglob("*")
                if path.is_file() and ".runs" not in path.parts], "no archive, no snapshot (the run record aside)"
