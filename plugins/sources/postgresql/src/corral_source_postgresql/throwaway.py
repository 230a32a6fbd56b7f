"""A PostgreSQL that a drill starts from the local server binaries inside its scratch folder and throws away.

Everything is under one folder ``SCRATCH/pg`` (0700, owned by the ``postgres`` user when corral runs as root:
initdb and postgres refuse root): the data directory, the server's own configuration, hba and log files, and its
unix socket. It listens on that socket only (trusted; only root and ``postgres`` can reach it), never on TCP: a
restored base backup brings the production roles and their passwords, which local users may know. The backup's own
``postgresql.conf`` and ``pg_hba.conf`` are never used (``config_file``, ``hba_file``); command-line settings
turn archiving off, so a restored base backup cannot push WAL into the production archive. The server is started
with ``run.popen`` (stopped on SIGTERM, dies with corral) and stopped at the end whatever happens: SIGQUIT
(``pg_ctl stop -m immediate``), then SIGKILL to its process group.

A restored base backup also brings its catalog's ``ALTER ROLE/DATABASE ... SET``, which apply at every login:
corral's logins to it (the readiness probe, the drill's queries and checks) pass :data:`NO_PRELOAD` as startup
options, which beat them, so no library the backup names loads in the server (as the OS user ``postgres``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral import RestoreError, RunContext
from corral_source_postgresql.connection import Server, first_error
from corral_source_postgresql.programs import DEBIAN_VERSIONS

OWNER = "postgres"
READY_TIMEOUT = 900.0  # seconds: a restored base backup replays its WAL before it accepts connections
STOP_TIMEOUT = 10.0
SOCKET_PATH_MAX = 107  # sun_path
HBA = "local all all trust\nlocal replication all trust\n"
# libpq startup options (PGOPTIONS) outrank role and database settings; these two need a superuser login
NO_PRELOAD = "-c session_preload_libraries= -c local_preload_libraries="
CATALOG_ONLY = NO_PRELOAD + " -c search_path=pg_catalog"  # corral's own queries: no function of the backup's
# what a server says while it starts (or replays WAL), or before its socket exists: worth asking again
_TRANSIENT = ("the database system is starting up", "the database system is not yet accepting connections",
              "the database system is in recovery mode", "the database system is shutting down")
_NO_SOCKET = ("No such file or directory", "Connection refused")  # without a FATAL: no server answered yet
_SETTINGS = ("listen_addresses=", "logging_collector=off", "archive_mode=off", "fsync=off",
             "full_page_writes=off", "synchronous_commit=off", "max_connections=20",
             "log_min_messages=warning", "ssl=off")  # fmt: skip


@dataclass(frozen=True)
class Throwaway:
    """A running throwaway server: its folder (and socket), port, and the superuser corral connects as."""

    folder: Path
    port: int
    user: str
    bin_dir: Path
    options: str = ""  # PGOPTIONS of every login: see NO_PRELOAD

    def server(self) -> Server:
        return Server(str(self.folder), self.port, self.user, None, None)

    def env(self, dbname: str) -> dict[str, str]:
        """PG* variables for a command check: the socket, no password needed."""
        env = {"PGHOST": str(self.folder), "PGPORT": str(self.port), "PGUSER": self.user, "PGDATABASE": dbname}
        return {**env, "PGOPTIONS": self.options} if self.options else env


def server_bin_dir(major: str | None = None) -> Path:
    """The folder of ``initdb`` and ``postgres``: Debian's ``/usr/lib/postgresql/MAJOR/bin`` (``major``: the one
    a data directory needs; else the newest), else the folder of ``postgres`` on PATH."""
    found = []
    for candidate in DEBIAN_VERSIONS.glob("*/bin"):
        version = candidate.parent.name
        if version.isdigit() and os.access(candidate / "postgres", os.X_OK) and (candidate / "initdb").is_file():
            found.append((int(version), candidate))
    if major is not None:
        found = [(version, where) for version, where in found if str(version) == major]
    if found:
        return max(found)[1]
    on_path = shutil.which("postgres")
    if on_path and (Path(on_path).parent / "initdb").is_file():
        return Path(on_path).parent
    wanted = f"postgresql-{major}" if major else "postgresql"
    raise RestoreError(f"the drill starts a throwaway PostgreSQL{f' {major}' if major else ''} and its server "
                       f"binaries are not installed (apt install {wanted}); or give the job a `drill: server`")


def prepare(scratch: Path) -> Path:
    """``SCRATCH/pg``, 0700, the server user's own; the scratch folder itself becomes 0711 so that user can
    traverse it (nothing in it is listed). Refuses when a folder above cannot be traversed by that user."""
    folder = scratch / "pg"
    folder.mkdir(mode=0o700)
    if os.geteuid() != 0:
        return folder
    owner = _owner()
    scratch.chmod(0o711)
    for above in scratch.parents:
        info = above.stat()
        if not info.st_mode & stat.S_IXOTH and not (info.st_uid == owner.pw_uid and info.st_mode & stat.S_IXUSR) \
                and not (info.st_gid == owner.pw_gid and info.st_mode & stat.S_IXGRP):
            raise RestoreError(f"the throwaway server runs as `{OWNER}`, which cannot reach `{scratch}`: `{above}` "
                               f"is mode {stat.filemode(info.st_mode)} (chmod o+x {above}, or give the job a "
                               "tmp_dir the postgres user can traverse)")
    os.chown(folder, owner.pw_uid, owner.pw_gid)
    return folder


def _owner() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(OWNER)
    except KeyError:
        raise RestoreError(f"there is no `{OWNER}` user to run the throwaway server (initdb and postgres refuse "
                           "root)") from None


def as_owner() -> dict[str, Any]:
    """``run.popen`` keywords that run a program as the server user when corral is root. Popen changes the uid
    before it calls ``run.popen``'s die-with-corral hook (the kernel forgets that request on a uid change), so
    the server still dies with corral, ``kill -9`` included."""
    if os.geteuid() != 0:
        return {}
    owner = _owner()
    return {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}


def initdb(run: RunContext, bin_dir: Path, folder: Path, superuser: str = OWNER) -> Path:
    """A fresh cluster in ``folder/data`` whose bootstrap superuser is ``superuser`` (UTF8, C locale)."""
    data = folder / "data"
    process = run.popen([str(bin_dir / "initdb"), "-D", str(data), "-U", superuser, "-E", "UTF8", "--locale=C",
                         "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "--no-instructions"],
                        cwd=folder, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        **as_owner())  # fmt: skip
    try:
        _, err = process.communicate()
    except BaseException:  # SIGTERM: initdb and the postgres it runs go now, before the scratch folder does
        _kill_group(process)
        raise
    finally:
        run.forget(process)
    if process.returncode != 0:
        said = [line for line in err.decode(errors="replace").splitlines() if line.strip()]
        raise RestoreError(f"initdb of the throwaway server failed: {said[-1] if said else process.returncode}")
    return data


def _kill_group(process: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    if os.geteuid() == 0:
        owner = _owner()
        os.chown(path, owner.pw_uid, owner.pw_gid)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serve(run: RunContext, bin_dir: Path, folder: Path, data: Path, users: list[str],
          say: Any = print, extra: tuple[str, ...] = (), options: str = "") -> Iterator[Throwaway]:  # fmt: skip
    """postgres on ``data``, until the block ends; ``users``: who to connect as, the first that exists;
    ``options``: the PGOPTIONS of every login (:data:`NO_PRELOAD` on a restored cluster)."""
    port = _free_port()
    if len(str(folder / f".s.PGSQL.{port}")) > SOCKET_PATH_MAX:
        raise RestoreError(f"the throwaway server's socket path under `{folder}` is longer than "
                           f"{SOCKET_PATH_MAX} bytes: give the job a shorter tmp_dir")
    for name, text in (("postgresql.conf", ""), ("pg_hba.conf", HBA), ("pg_ident.conf", "")):
        _write(folder / name, text)
    argv = [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(folder),
            "-c", f"config_file={folder / 'postgresql.conf'}", "-c", f"hba_file={folder / 'pg_hba.conf'}",
            "-c", f"ident_file={folder / 'pg_ident.conf'}"]
    for setting in (*_SETTINGS, *extra):
        argv += ["-c", setting]
    log = folder / "postgres.log"
    started = time.monotonic()
    with open(log, "ab") as out:
        process = run.popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=folder, **as_owner())
    try:
        user = _ready(run, bin_dir, folder, port, users, process, log, options)
        say(f"throwaway PostgreSQL ({bin_dir}) accepts connections on `{folder}` (port {port}, no TCP) after "
            f"{time.monotonic() - started:.1f} s")
        yield Throwaway(folder, port, user, bin_dir, options)
    finally:
        stop(run, process)


def stop(run: RunContext, process: subprocess.Popen[Any]) -> None:
    """Immediate shutdown (what ``pg_ctl stop -m immediate`` sends), then SIGKILL to the whole group."""
    try:
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(STOP_TIMEOUT)
        _kill_group(process)  # whatever of its children is left
    finally:
        run.forget(process)


def _ready(run: RunContext, bin_dir: Path, folder: Path, port: int, users: list[str],
           process: subprocess.Popen[Any], log: Path, options: str = "") -> str:  # fmt: skip
    """Wait until the server accepts a connection (a restored base backup replays its WAL first); the first
    of ``users`` it knows. Any refusal but a starting server's (a login that fails, a setting refused) ends the
    wait at once."""
    deadline = time.monotonic() + READY_TIMEOUT
    probe = [str(bin_dir / "psql"), "-X", "-w", "-q", "-A", "-t", "-c", "SELECT 1"]
    env = {**os.environ, "PGOPTIONS": options} if options else None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RestoreError(f"the throwaway server exited with code {process.returncode}: {_last_error(log)}")
        unknown = 0
        for user in users:
            done = run.run([*probe, "-d", f"host={folder} port={port} user={user} dbname=postgres"],
                           stdin=subprocess.DEVNULL, env=env)
            if done.returncode == 0:
                return user
            said = done.stderr.decode(errors="replace")
            if f'role "{user}" does not exist' in said:
                unknown += 1
                continue
            if any(phrase in said for phrase in _TRANSIENT) or \
                    ("FATAL:" not in said and any(phrase in said for phrase in _NO_SOCKET)):
                break  # starting up, or replaying WAL: the same for every user
            raise RestoreError(f"the throwaway server refused corral's login as `{user}`: "
                               f"{first_error(done.stderr, f'psql exited with code {done.returncode}')}")
        if unknown == len(users):
            raise RestoreError(f"the restored cluster has no role {' or '.join(f'`{u}`' for u in users)} to log in "
                               "as")
        time.sleep(0.2)
    raise RestoreError(f"the throwaway server did not accept connections within {READY_TIMEOUT:g} s: "
                       f"{_last_error(log)}")


def _last_error(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    errors = [line for line in lines if "FATAL:" in line or "PANIC:" in line or "ERROR:" in line]
    return " ".join((errors or lines or ["no log"])[-1].split())[:300]
