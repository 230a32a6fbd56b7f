"""What a restored base backup brings that the drill's throwaway server would run, load or follow, taken out of the
drill's copy before the server starts (``corral restore --to`` leaves the user's data directory as it came).

The archive may have been altered on the storage. The server reads corral's ``postgresql.conf``, ``pg_hba.conf``
and ``pg_ident.conf`` (:mod:`.throwaway`), never the backup's, but it always reads ``postgresql.auto.conf`` from the
data directory, after them: the backup's is deleted, so none of its settings (``restore_command``,
``archive_command``, ``shared_preload_libraries``, ``primary_conninfo``, ``ssl_*``, an ``include`` ...) applies.
So are ``recovery.conf`` (read by PostgreSQL 11 and older, refused by newer), ``recovery.signal`` and
``standby.signal`` (the WAL to a consistent state is in pg_wal: crash recovery from ``backup_label`` needs no
``restore_command`` and connects to no primary) and a ``postmaster.pid``. Every symbolic link in the data
directory is refused, but a tablespace's in ``pg_tblspc`` that corral unpacked, which is pointed at corral's copy
(and a ``tablespace_map`` of the backup's own goes when there is none): postgres would write through it as
whoever runs it (``postgres`` when corral is root), outside the scratch folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from corral import RestoreError
from corral_source_postgresql.hot_restore import tablespaces_of, unusual

REMOVED = ("postgresql.auto.conf", "recovery.conf", "recovery.signal", "standby.signal", "postmaster.pid")


def defuse(data: Path, say: Any) -> None:
    """The backup's own settings out of ``data``; its links refused or pointed at corral's tablespace copies."""
    spaces = tablespaces_of(data)
    removed = []
    for name in (*REMOVED, *(() if spaces.is_dir() else ("tablespace_map",))):
        path = data / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif os.path.lexists(path):
            path.unlink()
        else:
            continue
        removed.append(name)
    for top in (data, spaces) if spaces.is_dir() else (data,):
        for entry in unusual(top):
            link = Path(entry.path)
            if link.parent == data / "pg_tblspc" and (spaces / link.name).is_dir():
                link.unlink()
                link.symlink_to(spaces / link.name)
                continue
            raise RestoreError(f"`{link.relative_to(top)}` in the base backup is a symbolic link to "
                               f"`{os.readlink(link)}`: no throwaway server starts on a data directory that reaches "
                               "outside its folder")
    if removed:
        say(f"the backup's own {', '.join(removed)} removed from the drill's copy: the server runs with corral's "
            "settings only")
