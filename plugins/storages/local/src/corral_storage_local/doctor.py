"""``corral doctor`` for ``local``: the free space of the disk that holds the backups, against the biggest file the
job keeps there (the next archive is about that size, and the old one stays until rotation removes it)."""

from __future__ import annotations

import os
import shutil
from typing import Any

from corral import Check, human_size

LOW_SPACE = 1 << 30  # free bytes under which a backup disk is a warning whatever the archives' sizes


def check(storage: Any) -> list[Check]:
    folder = storage.config.backup_dir
    while not os.path.exists(folder) and folder != os.path.dirname(folder):
        folder = os.path.dirname(folder)
    try:
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        return [Check.fail(f"cannot measure the free space of `{folder}`: {exc.strerror}")]
    biggest = max((item.size for item in storage.listed or []), default=0)
    fact = f"disk of `{storage.config.backup_dir}`: {human_size(free)} free"
    if biggest:
        fact += f", biggest archive of the job {human_size(biggest)}"
    if free < biggest:
        return [Check.fail(f"{fact}: the next archive would not fit")]
    if free < max(LOW_SPACE, 2 * biggest):
        return [Check.warn(f"{fact}: little room left")]
    return [Check.ok(fact)]
