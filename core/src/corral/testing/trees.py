"""What a person compares after a restore."""

from __future__ import annotations

import os
from pathlib import Path


def snapshot(root: Path) -> dict[str, tuple]:
    """Type, content, mode, mtime, owner and symlink target of everything under ``root``."""
    result: dict[str, tuple] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        st = path.lstat()
        if path.is_symlink():
            result[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            result[rel] = ("dir", oct(st.st_mode))
        else:
            result[rel] = ("file", path.read_bytes(), oct(st.st_mode), st.st_mtime_ns // 10**9, st.st_uid, st.st_gid)
    return result
