"""Finding the client programs: MariaDB's names first, then MySQL's, so either distribution works."""

from __future__ import annotations

import shutil

from corral import DumpError

DUMPERS = ("mariadb-dump", "mysqldump")
CLIENTS = ("mariadb", "mysql")
BACKUP_TOOLS = ("mariabackup", "xtrabackup")


def find(names: tuple[str, ...], apt: str) -> str:
    """The first of ``names`` on PATH; a one-line error naming the package otherwise."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise DumpError(f"neither `{'` nor `'.join(names)}` is installed (apt install {apt})")
