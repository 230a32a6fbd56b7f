"""NFSv4 with nfs-ganesha in user space (Debian's nfs-ganesha + nfs-ganesha-vfs): one VFS export, AUTH_SYS.

The kernel here can neither mount nor serve NFS; clients use a userspace library such as PyPI ``nfs-rs``.
"""

from __future__ import annotations

import contextlib
import glob
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .ports import HOST, free_port, port_open
from .prerequisites import missing, require_executable
from .processes import running
from .workdirs import instance_dir


@dataclass(frozen=True)
class NFSServer:
    """A running NFSv4 server exporting the directory ``path`` as ``export`` (root is not squashed)."""

    host: str
    port: int
    export: str
    path: Path
    log: Path

    @property
    def url(self) -> str:
        """An ``nfs-rs`` URL (NFSv4.1, no reserved source port needed)."""
        return f"nfs://{self.host}:{self.port}{self.export}?version=4.1&noresvport=true"


@contextlib.contextmanager
def start_nfs(tmp: Path, *, export: str = "/export", timeout: float = 30.0) -> Iterator[NFSServer]:
    """Run ``ganesha.nfsd -F`` with NFSv4 only on a free port until the block exits."""
    ganesha = require_executable("ganesha.nfsd", apt="nfs-ganesha")
    if not glob.glob("/usr/lib/*/ganesha/libfsalvfs.so") + glob.glob("/usr/lib*/ganesha/libfsalvfs.so"):
        missing("nfs-ganesha's VFS backend (libfsalvfs.so)", "apt-get install -y nfs-ganesha-vfs")
    base = instance_dir(tmp, "nfs")
    path, recovery = base / "export", base / "recovery"
    path.mkdir()
    recovery.mkdir()
    log = base / "ganesha.log"
    port = free_port()
    conf = base / "ganesha.conf"
    conf.write_text(
        f"""NFS_CORE_PARAM {{
  Bind_addr = {HOST}; NFS_Port = {port}; Protocols = 4; Enable_NLM = false; Enable_RQUOTA = false;
}}
NFSv4 {{ RecoveryBackend = fs; RecoveryRoot = "{recovery}"; Graceless = true; }}
EXPORT {{
  Export_Id = 1; Path = "{path}"; Pseudo = "{export}"; Protocols = 4; Transports = TCP;
  Access_Type = RW; Squash = No_Root_Squash; SecType = sys;
  FSAL {{ Name = VFS; }}
}}
NFS_KRB5 {{ Active_krb5 = false; }}
LOG {{ Default_Log_Level = EVENT; }}
"""
    )
    argv = [ganesha, "-F", "-L", str(log), "-f", str(conf), "-p", str(base / "ganesha.pid")]
    with running(
        argv, what="ganesha.nfsd", log=base / "ganesha.out", extra_logs=[log], timeout=timeout,
        ready=lambda: port_open(port),
    ):  # fmt: skip
        yield NFSServer(HOST, port, export, path, log)
