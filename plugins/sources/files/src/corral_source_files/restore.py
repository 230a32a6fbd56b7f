"""Restoring file archives with plain tar, one archive or a whole incremental chain.

GNU tar guards one run: a member never lands through a symlink that the same run created. A chain is one tar run
per level, so a level could write through a link an older level planted (``shop/d -> /etc``, then
``shop/d/cron.d/x``). Before tar extracts into a folder that already holds entries, every member's folders are
looked at in it (never following a link): a link where this level makes a folder is removed first (the folder
replaces it, as it did on the server); a link above any other member refuses the archive, with nothing of it
extracted.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import stat
from pathlib import Path

from corral import DumpError, RestoreRequest, RunContext, Storage, full_disk_note, new_work_dir
from corral_source_files import tar


def fetch_and_extract(run: RunContext, storage: Storage, paths: list[str], dest: Path, incremental: bool,
                      tmp_dir: Path, request: RestoreRequest | None = None) -> list[str]:
    """Download every archive into a private work folder under ``tmp_dir`` (the job's, where the admin made room;
    never /tmp), each proven against its manifest when ``storage`` proves, then extract them in order into
    ``dest``: a damaged later level is refused before anything is extracted. With a dry run, only say so.
    Returns ``paths``."""
    if request is not None and request.dry_run:
        request.say(f"would extract {len(paths)} archive(s) with tar{' -G, in order' if incremental else ''} "
                    f"into `{dest}`")
        return paths
    mode = stat.S_IMODE(os.lstat(dest).st_mode)
    scratch = new_work_dir(tmp_dir)
    try:
        locals_ = []
        for remote in paths:
            local = scratch / posixpath.basename(remote)
            try:
                storage.get(remote, local)
            except OSError as exc:  # tmp_dir full: the chain needs room for every level at once
                note = full_disk_note(tmp_dir)  # before the partial copy goes
                local.unlink(missing_ok=True)
                raise DumpError(f"cannot fetch `{remote}` into `{tmp_dir}`: {exc.strerror or exc}{note}") from None
            locals_.append(local)
        os.chmod(dest, 0o700)  # nobody else walks in while the levels go in one after the other
        for remote, local in zip(paths, locals_, strict=True):
            if _holds_entries(dest):
                guard(run, local, dest, posixpath.basename(remote))
            try:
                tar.extract(run, local, dest, incremental)
            finally:
                local.unlink(missing_ok=True)
            if request is not None:
                request.say(f"extracted `{remote}` into `{dest}`")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        with contextlib.suppress(OSError):
            if stat.S_IMODE(os.lstat(dest).st_mode) != mode:
                os.chmod(dest, mode)
    return paths


def _holds_entries(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return any(True for _ in entries)


def _parts(name: str) -> list[str] | None:
    """A member name's components as tar extracts it (leading slashes dropped); None when tar refuses it (``..``)."""
    parts = [part for part in name.split("/") if part not in ("", ".")]
    return None if ".." in parts else parts


def guard(run: RunContext, archive: Path, dest: Path, shown: str) -> None:
    """Refuse ``archive`` when one of its members would be written through a symlink already in ``dest``; remove
    a link where the archive makes a folder (tar would follow it). Raises DumpError, one line, before any change."""
    folders: set[tuple[str, ...]] = set()
    ways: list[tuple[str, list[str]]] = []  # (member, the components whose parents must be real folders)
    for member in tar.members(run, archive):
        parts = _parts(member.name)
        if not parts:
            continue
        if member.kind == "d":  # an incremental level's folders too (GNU type D, listed as d)
            folders.add(tuple(parts))
            ways.append((member.name, [*parts, ""]))  # the folder itself too: tar would follow a link there
        else:
            ways.append((member.name, parts))
        if member.kind == "h" and (target := _parts(member.link)):
            ways.append((member.name, target))
    doomed: set[Path] = set()
    for name, parts in ways:
        for depth in range(1, len(parts)):
            place = dest.joinpath(*parts[:depth])
            try:
                info = os.lstat(place)
            except (FileNotFoundError, NotADirectoryError):
                break
            if stat.S_ISLNK(info.st_mode):
                if tuple(parts[:depth]) not in folders:
                    raise DumpError(f"`{shown}` is refused: its member `{name}` would be written through the "
                                    f"symlink `{place}` an older archive made (nothing of it extracted)")
                doomed.add(place)
                break
            if not stat.S_ISDIR(info.st_mode):
                break
    for place in sorted(doomed):
        place.unlink()
