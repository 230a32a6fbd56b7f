"""Directories for server instances: a root that other Unix users can traverse, a fresh subdir per server."""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import tempfile
from pathlib import Path

# sockaddr_un.sun_path holds 108 bytes; leave room for suffixes some servers add (".lock", ".s.PGSQL.N").
MAX_SOCKET_PATH = 100


def make_server_root(parent: Path | None = None) -> Path:
    """A fresh directory (mode 0755) under the temp dir, where servers that run as other users can work; removed
    when the process exits (a bench that forgot it left 3.7 GB per run of a 1 GiB database in /tmp)."""
    root = Path(tempfile.mkdtemp(prefix="corral-servers-", dir=parent))
    root.chmod(0o755)
    atexit.register(shutil.rmtree, root, True)
    return root


def instance_dir(tmp: Path, name: str, *, mode: int = 0o755) -> Path:
    """A new, uniquely named subdirectory of ``tmp`` for one server instance."""
    tmp.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=tmp))
    path.chmod(mode)
    return path


def require_traversable(path: Path, who: str) -> None:
    """Raise ValueError unless every directory down to ``path`` can be traversed by other users."""
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            raise ValueError(
                f"{who} runs as another Unix user and must reach {path}, but {directory} has mode "
                f"{stat.filemode(mode)}: start it in the `server_tmp_path` fixture's directory or in one "
                "made by corral_testservers.make_server_root()"
            )


def socket_path(directory: Path, name: str) -> Path:
    """``directory/name``, checked to fit in a Unix socket address."""
    path = directory / name
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise ValueError(f"Unix socket path too long ({len(os.fsencode(path))} bytes): {path}")
    return path


def write_private(path: Path, text: str, *, owner: str | None = None) -> Path:
    """Write a file only its owner can read (config files holding secrets)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    if owner is not None:
        shutil.chown(path, owner, owner)
    return path
