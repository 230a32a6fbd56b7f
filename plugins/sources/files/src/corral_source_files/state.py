"""The local state of encrypted chains: the snapshots the next run continues from, in a private folder.

With ``encrypt``, a chain's snapshots are stored as age files the server cannot read back, so the server keeps
its own plain copy of each base level's snapshot: ``<state_dir>/<job>/<target>/<stored name without .age>``
(folders 0700, files 0600; like borg's or restic's local cache, but state: ``/var/lib/corral`` by default). A
copy counts only under the exact name of the link a run builds on; anything else starts a new full chain.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from pathlib import Path

from corral import private_dir
from corral.encryption import SUFFIX as AGE_SUFFIX
from corral_source_files import chain


def folder(state_dir: Path, job: str, target: str) -> Path:
    """The target's private state folder, created 0700 (refused when another user could control the way)."""
    return private_dir(state_dir / job / target, "state folder of the encrypted chains")


def local_name(link: chain.Link) -> str:
    """The file name of ``link``'s snapshot in the state folder: its stored name, without ``.age``."""
    return posixpath.basename(link.snar or "").removesuffix(f".{AGE_SUFFIX}")


def fetch(where: Path, link: chain.Link, into: Path) -> bool:
    """Copy ``link``'s snapshot from the state folder to ``into`` (tar updates that copy); False when the
    folder holds no snapshot under that name."""
    kept = where / local_name(link)
    if not kept.is_file() or kept.is_symlink():
        return False
    shutil.copyfile(kept, into)
    return True


def keep(where: Path, snar: Path, name: str) -> None:
    """Save the snapshot tar just wrote as ``name`` (0600, whole or absent: a temp name, then a rename)."""
    fd, temp = tempfile.mkstemp(prefix=".keep-", suffix=".snar", dir=where)  # pruned if left
    try:
        with os.fdopen(fd, "wb") as out, snar.open("rb") as source:
            shutil.copyfileobj(source, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, where / name)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def prune(where: Path, links: list[list[chain.Link]], year: int) -> list[str]:
    """Delete the snapshots no run can build on any more: kept are, per storage, the newest complete link of
    each base level of ``year`` (what :func:`chain.plan` may choose). Returns the names deleted."""
    wanted = set()
    for stored in links:
        for level in (chain.FULL, chain.MONTH, chain.DECADE):
            found = [link for link in stored if link.level == level and link.complete and link.made.year == year]
            if found:
                wanted.add(local_name(found[-1]))
    deleted = []
    for entry in os.scandir(where):
        if entry.name not in wanted and entry.name.endswith(".snar") and entry.is_file(follow_symlinks=False):
            os.unlink(entry.path)
            deleted.append(entry.name)
    return deleted
