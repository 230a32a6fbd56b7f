"""FTP with vsftpd (Debian's vsftpd): a real Unix user with a password, chrooted to its home, passive mode."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .credentials import new_password
from .ports import HOST, free_port, free_port_range, read_banner
from .prerequisites import require_executable
from .processes import run_checked, running
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
    ca_file: Path | None = None  # with tls=True: the self-signed certificate (CN and IP 127.0.0.1) to trust

    @property
    def url(self) -> str:
        return f"ftp://{self.user}:{self.password}@{self.host}:{self.port}/"

    def storage_options(self) -> dict[str, Any]:
        """Keyword arguments for ``fsspec.filesystem("ftp", ...)``."""
        return {"host": self.host, "port": self.port, "username": self.user, "password": self.password}


@contextlib.contextmanager
def start_ftp(
    tmp: Path, *, tls: bool = False, timeout: float = 30.0, settings: Sequence[str] = ()
) -> Iterator[FTPServer]:
    """Run vsftpd on a free port with a throwaway Unix user until the block exits.

    ``settings``: more vsftpd.conf lines (``chmod_enable=NO``...), after the defaults, which they override.

    ``tls=True``: explicit FTPS required for login and data (AUTH TLS), with a self-signed certificate whose path
    is ``ca_file``; TLS session reuse on data connections is not required (Python's ftplib does not reuse).
    """
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
    ssl_lines, ca_file = ["ssl_enable=NO"], None
    if tls:
        openssl = require_executable("openssl", apt="openssl")
        ca_file, key_file = base / "cert.pem", base / "key.pem"
        run_checked(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={HOST}",
             "-addext", f"subjectAltName=IP:{HOST}", "-keyout", str(key_file), "-out", str(ca_file)],
            what="openssl req", log=base / "openssl.log", timeout=60,
        )  # fmt: skip
        ssl_lines = [
            "ssl_enable=YES", f"rsa_cert_file={ca_file}", f"rsa_private_key_file={key_file}",
            "force_local_logins_ssl=YES", "force_local_data_ssl=YES", "require_ssl_reuse=NO",
            "ssl_tlsv1=YES", "ssl_sslv2=NO", "ssl_sslv3=NO",
        ]  # fmt: skip
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
                *ssl_lines, *settings, "",
            ])
        )  # fmt: skip
        conf.chmod(0o600)
        with running(
            [vsftpd, str(conf)], what="vsftpd", log=log, extra_logs=[base / "xfer.log"], timeout=timeout,
            ready=lambda: read_banner(port).startswith(b"220"),
        ):  # fmt: skip
            yield FTPServer(HOST, port, user, password, home, log, ca_file)
