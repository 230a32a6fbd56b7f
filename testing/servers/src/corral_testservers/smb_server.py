"""SMB with Samba's smbd (Debian's samba): one writable share for one Unix+Samba user, SMB2+ only."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .credentials import new_password
from .ports import HOST, free_port, port_open
from .prerequisites import require_executable
from .processes import run_checked, running
from .unix_users import unix_user
from .workdirs import instance_dir, require_traversable

APT = "samba"


@dataclass(frozen=True)
class SMBServer:
    """A running smbd serving ``share`` (its files are in ``share_path``) to ``user``."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    share: str
    share_path: Path
    log: Path

    @property
    def url(self) -> str:
        return f"smb://{self.user}:{self.password}@{self.host}:{self.port}/{self.share}"

    def storage_options(self) -> dict[str, Any]:
        """Keyword arguments for ``fsspec.filesystem("smb", ...)``; paths then start with ``/<share>/``."""
        return {"host": self.host, "port": self.port, "username": self.user, "password": self.password}


@contextlib.contextmanager
def start_smb(tmp: Path, *, share: str = "backup", timeout: float = 30.0) -> Iterator[SMBServer]:
    """Run ``smbd -F`` on a free port with a throwaway user and one share until the block exits."""
    smbd = require_executable("smbd", apt=APT)
    smbpasswd = require_executable("smbpasswd", apt=APT)
    base = instance_dir(tmp, "smb")
    require_traversable(base, "smbd (serves the share as the user)")
    dirs = {name: base / name for name in ("private", "lock", "state", "cache", "pid", "ncalrpc", "logs")}
    for path in dirs.values():
        path.mkdir()
    share_path = base / "share"
    share_path.mkdir()
    log = base / "smbd.log"
    port = free_port()
    password = new_password()
    with unix_user("smb", base, password, shell="/usr/sbin/nologin") as user:
        shutil.chown(share_path, user, user)
        conf = base / "smb.conf"
        conf.write_text(
            "\n".join([
                "[global]", "server role = standalone server", f"smb ports = {port}", f"interfaces = {HOST}",
                "bind interfaces only = yes", "disable netbios = yes", f"private dir = {dirs['private']}",
                f"lock directory = {dirs['lock']}", f"state directory = {dirs['state']}",
                f"cache directory = {dirs['cache']}", f"pid directory = {dirs['pid']}",
                f"ncalrpc dir = {dirs['ncalrpc']}", f"log file = {dirs['logs']}/log.%m",
                f"passdb backend = tdbsam:{dirs['private']}/passdb.tdb", "load printers = no",
                "printcap name = /dev/null", "disable spoolss = yes", "server min protocol = SMB2_10",
                "map to guest = never", "",
                f"[{share}]", f"path = {share_path}", "read only = no", f"valid users = {user}",
                "create mask = 0644", "",
            ])
        )  # fmt: skip
        run_checked(
            [smbpasswd, "-c", str(conf), "-a", "-s", user], what="smbpasswd", log=base / "smbpasswd.log",
            input=f"{password}\n{password}\n".encode(), timeout=30,
        )  # fmt: skip
        # --no-process-group: smbd signals its whole process group on exit, hence the new session.
        with running(
            [smbd, "-F", "--no-process-group", "--debug-stdout", "-d", "1", "-s", str(conf)],
            what="smbd", log=log, timeout=timeout, ready=lambda: port_open(port),
        ):  # fmt: skip
            yield SMBServer(HOST, port, user, password, share, share_path, log)
