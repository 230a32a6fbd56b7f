"""Restoring file archives with plain tar, one archive or a whole incremental chain."""

from __future__ import annotations

import posixpath
import shutil
from pathlib import Path

from corral import RestoreRequest, RunContext, Storage, new_work_dir
from corral_source_files import tar


def fetch_and_extract(run: RunContext, storage: Storage, paths: list[str], dest: Path, incremental: bool,
                      tmp_dir: Path, request: RestoreRequest | None = None) -> list[str]:
    """Download each archive in turn into a private work folder under ``tmp_dir`` (the job's, where the admin
    made room; never /tmp) and extract it into ``dest`` (one local copy at a time); with a dry run, only say so.
    Returns ``paths``."""
    if request is not None and request.dry_run:
        request.say(f"would extract {len(paths)} archive(s) with tar{' -G, in order' if incremental else ''} "
                    f"into `{dest}`")
        return paths
    scratch = new_work_dir(tmp_dir)
    try:
        for remote in paths:
            local = scratch / posixpath.basename(remote)
            storage.get(remote, local)
            try:
                tar.extract(run, local, dest, incremental)
            finally:
                local.unlink(missing_ok=True)
            if request is not None:
                request.say(f"extracted `{remote}` into `{dest}`")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return paths
