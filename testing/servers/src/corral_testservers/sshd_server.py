"""OpenSSH sshd with SFTP: a real Unix user that logs in with a password or a key, and a known_hosts file."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .credentials import new_password
from .ports import HOST, free_port, read_banner
from .prerequisites import require_executable
from .processes import run_checked, running
from .unix_users import unix_user
from .workdirs import instance_dir, require_traversable


@dataclass(frozen=True)
class SSHServer:
    """A running sshd. ``key_path`` is a passphrase-less ed25519 private key authorised for ``user``;
    ``known_hosts`` holds the server's host key for ``[host]:port``. Paths on the server are real paths
    (no chroot): the user's files live under ``home``."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    key_path: Path
    known_hosts: Path
    home: Path
    log: Path

    @property
    def url(self) -> str:
        return f"sftp://{self.user}@{self.host}:{self.port}"

    def storage_options(self, *, use_password: bool = False) -> dict[str, Any]:
        """Keyword arguments for ``fsspec.filesystem("sftp", ...)`` (sshfs/asyncssh), key auth by default."""
        options: dict[str, Any] = {
            "host": self.host, "port": self.port, "username": self.user, "known_hosts": str(self.known_hosts),
        }  # fmt: skip
        if use_password:
            options["password"] = self.password
            options["client_keys"] = []
        else:
            options["client_keys"] = [str(self.key_path)]
        return options

    def ssh_options(self) -> list[str]:
        """Options for the OpenSSH ``ssh``/``sftp``/``scp`` clients: port, key, known_hosts, no prompts."""
        return [
            "-o", f"Port={self.port}", "-o", f"IdentityFile={self.key_path}", "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes",
        ]  # fmt: skip


@contextlib.contextmanager
def start_sshd(tmp: Path, *, timeout: float = 30.0, sftp_flags: str = "") -> Iterator[SSHServer]:
    """Run ``sshd -D`` on a free port with a throwaway Unix user until the block exits.

    ``sftp_flags``: options of the SFTP server (``-P setstat,fsetstat`` bans setting modes).
    """
    sshd = require_executable("sshd", apt="openssh-server")
    keygen = require_executable("ssh-keygen", apt="openssh-client")
    base = instance_dir(tmp, "sshd")
    require_traversable(base, "sshd (reads authorized_keys as the user)")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
    host_key, client_key = base / "host_ed25519", base / "id_ed25519"
    for key, comment in ((host_key, "corral-test-host"), (client_key, "corral-test")):
        run_checked(
            [keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)],
            what="ssh-keygen", log=base / "keygen.log", timeout=30,
        )  # fmt: skip
    home = base / "home"
    (home / ".ssh").mkdir(parents=True)
    log = base / "sshd.log"
    port = free_port()
    password = new_password()
    with unix_user("ssh", home, password) as user:
        authorized = home / ".ssh" / "authorized_keys"
        shutil.copyfile(client_key.with_suffix(".pub"), authorized)
        for path in (home, home / ".ssh", authorized):
            shutil.chown(path, user, user)
        home.chmod(0o755)
        (home / ".ssh").chmod(0o700)
        authorized.chmod(0o600)
        key_type, key_data = host_key.with_suffix(".pub").read_text().split()[:2]
        known_hosts = base / "known_hosts"
        known_hosts.write_text(f"[{HOST}]:{port} {key_type} {key_data}\n")
        conf = base / "sshd_config"
        conf.write_text(
            "\n".join([
                f"Port {port}", f"ListenAddress {HOST}", f"HostKey {host_key}",
                f"PidFile {base / 'sshd.pid'}",
                "AuthorizedKeysFile .ssh/authorized_keys", "PubkeyAuthentication yes",
                "PasswordAuthentication yes", "KbdInteractiveAuthentication no", "UsePAM yes",
                "PermitRootLogin no", f"AllowUsers {user}", f"Subsystem sftp internal-sftp {sftp_flags}".rstrip(),
                "LogLevel VERBOSE", "",
            ])
        )  # fmt: skip
        with running(
            [sshd, "-D", "-e", "-f", str(conf)], what="sshd", log=log, timeout=timeout,
            ready=lambda: read_banner(port).startswith(b"SSH-"),
        ):  # fmt: skip
            yield SSHServer(HOST, port, user, password, client_key, known_hosts, home, log)
