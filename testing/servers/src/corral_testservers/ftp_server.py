"""FTP with vsftpd (Debian's vsftpd): a real Unix user with a password, chrooted to its home, passive mode."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .credentials import new_password
from .ports import HOST, free_port, free_port_range, read_banner
from .prerequisites import require_executable
from .processes import running
from .unix_users import unix_user
from .workdirs import instance_dir, require_traversable

APT = "vsftpd"
PASSIVE_PORTS = 16


@dataclass(frozen=True)
class FTPServer:
    """A running FTP server. The user lands in ``root`` (its chrooted home, writable) as ``/``."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    root: Path
    log: Path

    @property
    def url(self) -> str:
        return f"ftp://{self.user}:{self.password}@{self.host}:{self.port}/"

    def storage_options(self) -> dict[str, Any]:
        """Keyword arguments for ``fsspec.filesystem("ftp", ...)``."""
        return {"host": self.host, "port": self.port, "username": self.user, "password": self.password}


@contextlib.contextmanager
def start_ftp(tmp: Path, *, timeout: float = 30.0) -> Iterator[FTPServer]:
    """Run vsftpd on a free port with a throwaway Unix user until the block exits."""
    vsftpd = require_executable("vsftpd", apt=APT)
    base = instance_dir(tmp, "ftp")
    require_traversable(base, "vsftpd")
    home, empty = base / "home", base / "empty"
    home.mkdir()
    empty.mkdir(mode=0o755)
    log = base / "vsftpd.log"
    port = free_port()
    passive = free_port_range(PASSIVE_PORTS)
    password = new_password()
    with unix_user("ftp", home, password) as user:
        shutil.chown(home, user, user)
        conf = base / "vsftpd.conf"
        conf.write_text(
            "\n".join([
                "listen=YES", "listen_ipv6=NO", "background=NO", f"listen_address={HOST}",
                f"listen_port={port}", "anonymous_enable=NO", "local_enable=YES", "write_enable=YES",
                "local_umask=022", "chroot_local_user=YES", "allow_writeable_chroot=YES", "pasv_enable=YES",
                f"pasv_address={HOST}", f"pasv_min_port={passive}",
                f"pasv_max_port={passive + PASSIVE_PORTS - 1}",
                "connect_from_port_20=NO", f"secure_chroot_dir={empty}", "pam_service_name=vsftpd",
                "seccomp_sandbox=NO", "xferlog_enable=YES", f"vsftpd_log_file={base / 'xfer.log'}",
                "ssl_enable=NO", "",
            ])
        )  # fmt: skip
        conf.chmod(0o600)
        with running(
            [vsftpd, str(conf)], what="vsftpd", log=log, extra_logs=[base / "xfer.log"], timeout=timeout,
            ready=lambda: read_banner(port).startswith(b"220"),
        ):  # fmt: skip
            yield FTPServer(HOST, port, user, password, home, log)
