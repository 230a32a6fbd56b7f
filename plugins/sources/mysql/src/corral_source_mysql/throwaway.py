"""A MariaDB that a drill starts from the local binaries inside its scratch folder and throws away.

Everything is under ``SCRATCH/db``: the client's option files (root's, 0600) and ``m/``, the folder of the
server itself (0700, owned by the ``mysql`` user when corral runs as root, and the server runs as ``mysql``): the
data directory (new from ``mariadb-install-db``, or a prepared physical backup), the error log, the socket, the
init file. ``mariadbd --no-defaults`` never reads the host's ``my.cnf``; it listens on no network port at all, only
on its socket in the private folder (a physical backup brings the production accounts and their passwords:
nobody but root and ``mysql`` may reach them), writes files (``SELECT ... INTO OUTFILE``) only into an empty
private folder of its own (``--secure-file-priv``), reads no client file (``--local-infile=0``), with no binary
log, no replication started (a physical backup may name a primary), no event scheduler (restored events must not
run), no plugin or UDF library at all (``--plugin-dir`` is an empty folder of root's: a physical backup's
``mysql.plugin`` would load FEDERATED, whose tables connect out from a process of the ``mysql`` user, which
MariaDB's own ``mysql@localhost`` lets into a production server on the same machine by unix_socket, with all
rights; the backup's tables of such engines are counted, not read), and
``innodb_fast_shutdown=3``: the data is thrown away, so stopping skips the flush. At start an ``--init-file``
creates the login corral uses: ``corral_RANDOM@localhost`` (a name no routine or view of a backup can give as
its DEFINER: ``root@localhost``, the usual one, would run as corral) with a random password, which only goes
through a 0600 option file, never an argument; and, for a dump, the login it is loaded
as, its rows counted as and the checks run as (``MYSQL_PWD``): ``corral_load@localhost``, with rights on the
drill's database only: no ``SET GLOBAL`` (a dump that aims the general log at ``/root/.ssh/authorized_keys``, or a
function of it that a check calls), no ``FILE``, no ``SET USER`` (a routine defined as root). On a physical backup
the checks run as ``corral_check@localhost``, which only reads, and :func:`demote` leaves every account the backup
brought (the DEFINERs of its routines and views) reads only too. The server is
started with ``run.popen`` (stopped on SIGTERM, dies with corral) and stopped whatever happens: SIGTERM, then
SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral import RestoreError, RunContext
from corral_source_mysql import client, tools
from corral_source_mysql.optionfile import quote
from corral_source_mysql.restore import Server

SERVER = "m"  # the server's folder in SCRATCH/db: short, its socket's path is at most 107 bytes
OWNER = "mysql"  # who the server runs as when corral is root
LOADER = "corral_load"  # the account a dump is loaded as: its own database only
CHECKER = "corral_check"  # the account a physical backup's checks run as: reads only
_READS = "SELECT, SHOW VIEW, EXECUTE"  # what the checker and every account of a physical backup keep
READY_TIMEOUT = 900.0  # seconds: a prepared physical backup may roll back transactions before it listens
STOP_TIMEOUT = 10.0
SOCKET_PATH_MAX = 107  # sun_path
_SETTINGS = ("--skip-networking", "--local-infile=0", "--skip-name-resolve", "--skip-log-bin", "--skip-slave-start",
             "--event-scheduler=OFF", "--innodb-buffer-pool-size=128M", "--innodb-log-file-size=64M",
             "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--innodb-fast-shutdown=3",
             "--max-allowed-packet=1G", "--max-connections=20", "--performance-schema=OFF")  # fmt: skip


@dataclass(frozen=True)
class Throwaway:
    """A running throwaway server: its socket, the login corral uses (``options``), the checks' (``loader``:
    the dump's loader, or the read-only checker on a physical backup; ``user``, ``password`` are its), so no
    account with more rights runs a function or view the archive defined."""

    socket: Path
    user: str
    password: str
    options: Path
    loader: Path | None = None
    admin: str = ""  # the name of corral's own login (options')

    def server(self) -> Server:
        return Server(f"the throwaway server at {self.socket}", (f"--defaults-file={self.options}",),
                      (f"--defaults-file={self.loader}",) if self.loader is not None else None)

    def env(self, database: str | None) -> dict[str, str]:
        """For a command check: ``mariadb -e ...`` logs in as is. The MariaDB client reads no socket from the
        environment, and root's own ``~/.my.cnf`` may name a production server: ``HOME`` is the private folder,
        whose ``.my.cnf`` (the login's option file) is read last and wins."""
        found = {"HOME": str(self.options.parent), "MYSQL_UNIX_PORT": str(self.socket), "MYSQL_PWD": self.password}
        return found | ({"CORRAL_DRILL_DATABASE": database} if database is not None else {})


def _owner() -> pwd.struct_passwd | None:
    """The ``mysql`` user when corral is root (the server never runs as root), else None: corral's own user."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(OWNER)
    except KeyError:
        raise RestoreError(f"there is no `{OWNER}` user to run the throwaway mariadbd as (it must not run as root: "
                           "apt install mariadb-server creates it)") from None


def as_owner() -> dict[str, Any]:
    """``run.popen``/``run.run`` keywords that run a program as ``mysql`` when corral is root. Popen changes the
    uid before ``run.popen``'s die-with-corral hook, so the program still dies with corral."""
    owner = _owner()
    return {} if owner is None else {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}


def own(path: Path) -> None:
    """``path`` and everything under it the ``mysql`` user's (when corral is root); symlinks themselves only."""
    owner = _owner()
    if owner is None:
        return
    os.lchown(path, owner.pw_uid, owner.pw_gid)
    for top, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(top, name), owner.pw_uid, owner.pw_gid)


def localized(data: Path) -> None:
    """An unpacked physical backup before ``--prepare``: its InnoDB link files (``db/t.isl``, where a ``DATA
    DIRECTORY`` table's ``.ibd`` is) removed, so every tablespace is read from ``data`` (an archive's link file
    made the server open any path read-write as ``mysql``: the production server's live ``.ibd``, where purging the
    copy's undo log writes); then :func:`own`."""
    for top, _, files in os.walk(data):
        for name in files:
            if name.lower().endswith(".isl"):
                os.unlink(os.path.join(top, name))
    own(data)


def _private(path: Path, text: str, owned: bool = False) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    if owned:
        own(path)
    return path


def _last_error(log: Path) -> str:
    """The error log's last ``[ERROR]`` line (else its last line)."""
    try:
        fd = os.open(log, os.O_RDONLY | os.O_NOFOLLOW)  # in the server's folder: never follow a link there
        with os.fdopen(fd, errors="replace") as text:
            lines = [line.strip() for line in text.read().splitlines() if line.strip()]
    except OSError:
        return "no error log"
    errors = [line for line in lines if "[ERROR]" in line]
    return (errors or lines or ["nothing in its error log"])[-1][:300]


def install(run: RunContext, folder: Path) -> Path:
    """A fresh data directory in ``folder/m/data`` (``mariadb-install-db --no-defaults``, no test
    database), made as the ``mysql`` user when corral is root."""
    program = tools.find(("mariadb-install-db", "mysql_install_db"), apt="mariadb-server")
    data = folder / SERVER / "data"
    done = run.run([program, "--no-defaults", f"--datadir={data}", "--skip-test-db",
                    "--auth-root-authentication-method=socket"], cwd=folder / SERVER, stdin=subprocess.DEVNULL,
                   **as_owner())  # fmt: skip
    if done.returncode != 0:
        said = [line for line in (done.stderr + done.stdout).decode(errors="replace").splitlines() if line.strip()]
        raise RestoreError(f"mariadb-install-db of the throwaway server failed (exit {done.returncode}): "
                           f"{said[-1][:300] if said else 'no output'}")
    return data


def folder_in(scratch: Path) -> Path:
    """``SCRATCH/db`` (0711: root's option files in it) and ``SCRATCH/db/m`` (0700, the ``mysql`` user's
    when corral is root; ``SCRATCH`` becomes 0711 so that user can traverse it). Refused when the socket's path
    would be too long for a Unix socket, or a folder above cannot be traversed by ``mysql``."""
    folder = scratch / "db"
    if len(str(folder / SERVER / "sock")) > SOCKET_PATH_MAX:
        raise RestoreError(f"the throwaway server's socket would be `{folder / SERVER / 'sock'}`, longer than a "
                           f"Unix socket path may be ({SOCKET_PATH_MAX}): give the job a shorter tmp_dir")
    folder.mkdir(mode=0o700)
    (folder / SERVER).mkdir(mode=0o700)
    owner = _owner()
    if owner is None:
        return folder
    for above in (scratch, *scratch.parents):
        info = above.stat()
        if above != scratch and not info.st_mode & stat.S_IXOTH and not (
                info.st_uid == owner.pw_uid and info.st_mode & stat.S_IXUSR) and not (
                info.st_gid == owner.pw_gid and info.st_mode & stat.S_IXGRP):  # fmt: skip
            raise RestoreError(f"the throwaway mariadbd runs as `{OWNER}`, which cannot reach `{scratch}`: `{above}` "
                               f"is mode {stat.filemode(info.st_mode)} (chmod o+x {above}, or give the job a tmp_dir "
                               f"the {OWNER} user can traverse)")
    scratch.chmod(scratch.stat().st_mode & 0o7777 | 0o111)
    folder.chmod(0o711)
    own(folder / SERVER)
    return folder


def grant_pattern(database: str) -> str:
    """``database`` as a GRANT's database name: quoted, its ``_`` and ``%`` no wildcards (``a_b`` is not ``aXb``)."""
    return "`" + re.sub(r"([\\_%])", r"\\\1", database).replace("`", "``") + "`"


def _account(user: str) -> str:
    return _quoted(user) + "@'localhost'"


def _client_options(path: Path, sock: Path, user: str, password: str) -> Path:
    return _private(path, "[client]\n" + "".join(
        f"{key}={quote(value)}\n" for key, value in (("socket", str(sock)), ("protocol", "SOCKET"),
                                                     ("user", user), ("password", password))))


@contextlib.contextmanager
def started(run: RunContext, folder: Path, data: Path, loads: tuple[str, ...] = ()) -> Iterator[Throwaway]:
    """``mariadbd`` on ``data`` until the block exits, ready for logins; ``loads``: the databases a dump is
    loaded into, as the loader account that may touch them and nothing else (and the checks run as)."""
    program = tools.find(("mariadbd", "mysqld"), apt="mariadb-server")
    admin, password = f"corral_{secrets.token_hex(8)}", secrets.token_hex(16)  # never a backup's DEFINER
    home = folder / SERVER
    sock, log, files = home / "sock", home / "error.log", home / "files"
    files.mkdir(mode=0o700)
    own(files)
    plugins = folder / "plugins"  # empty, root's: no library a backup's mysql.plugin or mysql.func names loads
    plugins.mkdir(mode=0o711)
    account = _account(admin)
    statements = [f"CREATE OR REPLACE USER {account} IDENTIFIED BY '{password}';",
                  f"GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION;"]
    options = _client_options(folder / "client.cnf", sock, admin, password)
    user, password = (LOADER if loads else CHECKER), secrets.token_hex(16)
    statements.append(f"CREATE OR REPLACE USER {_account(user)} IDENTIFIED BY '{password}';")
    if loads:
        statements += [f"GRANT ALL PRIVILEGES ON {grant_pattern(name)}.* TO {_account(LOADER)};" for name in loads]
    else:
        statements.append(f"GRANT {_READS} ON *.* TO {_account(CHECKER)};")
    loader = _client_options(folder / ("loader.cnf" if loads else "checker.cnf"), sock, user, password)
    init = _private(home / "init.sql", "".join(line + "\n" for line in statements), owned=True)
    _private(folder / ".my.cnf", loader.read_text())  # the checks' login (their HOME is this folder)
    argv = [program, "--no-defaults", f"--datadir={data}", f"--socket={sock}", f"--secure-file-priv={files}",
            f"--pid-file={home / 'mariadbd.pid'}", f"--init-file={init}", f"--plugin-dir={plugins}", *_SETTINGS]
    with open(log, "wb") as errors:
        process = run.popen(argv, cwd=home, stdin=subprocess.DEVNULL, stdout=errors, stderr=errors, **as_owner())
    try:
        server = Throwaway(sock, user, password, options, loader, admin)
        _wait_ready(run, process, server, log)
        yield server
    finally:
        _stop(run, process)


def demote(run: RunContext, server: Throwaway) -> None:
    """Every account and role a physical backup brought keeps the global rights of the checker only (``SELECT,
    SHOW VIEW, EXECUTE``): a routine or view of the archive runs as its DEFINER, often the production root, and a
    check that calls it must not ``SET GLOBAL general_log_file`` into a file the ``mysql`` user can write. The
    grant table itself is rewritten (``REVOKE ALL`` refuses some accounts a backup may hold); rights on one
    database or table cannot reach the server or its files, so they stay."""
    program = tools.find(tools.CLIENTS, apt="mariadb-client")
    try:  # a trigger on the table would fire inside the UPDATE, as its DEFINER with the rights not yet taken
        found = client.query(run, program, (f"--defaults-file={server.options}",), _UNTOUCHED)
    except client.SQLError as exc:
        raise RestoreError(f"mysql the throwaway server at {server.socket}: reading its grant tables: {exc}") from None
    if found:
        shown = "".join(c if c.isprintable() else "?" for c in client.unescape(found[0]))[:200]
        raise RestoreError(f"the backup's `mysql` schema holds {shown} (MariaDB makes none there: the archive was "
                           "altered): its accounts cannot be demoted safely, nothing of it is run")
    own = " OR ".join(f"(User = {_quoted(user)} AND Host = 'localhost')" for user in (server.admin, CHECKER))
    statement = (f"SET @reads = (SELECT JSON_VALUE(Priv, '$.access') FROM mysql.global_priv WHERE User = "
                 f"{_quoted(CHECKER)} AND Host = 'localhost'); UPDATE mysql.global_priv SET Priv = JSON_SET(Priv, "
                 f"'$.access', CAST(@reads AS UNSIGNED)) WHERE NOT ({own}); FLUSH PRIVILEGES;")
    try:
        client.query(run, program, (f"--defaults-file={server.options}",), statement)
    except client.SQLError as exc:
        raise RestoreError(f"mysql the throwaway server at {server.socket}: taking the archive's accounts' rights "
                           f"away: {exc}") from None


# what would run code of the archive while demote's UPDATE writes mysql.global_priv: a trigger of the system
# schema, or global_priv not a table (a view may call a function)
_UNTOUCHED = ("SELECT CONCAT('the trigger `', TRIGGER_NAME, '` on `', EVENT_OBJECT_TABLE, '`') FROM "
              "information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = 'mysql' UNION ALL SELECT CONCAT("
              "'`global_priv` as a ', TABLE_TYPE) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'mysql' "
              "AND TABLE_NAME = 'global_priv' AND TABLE_TYPE <> 'BASE TABLE'")


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _wait_ready(run: RunContext, process: subprocess.Popen[Any], server: Throwaway, log: Path) -> None:
    program = tools.find(tools.CLIENTS, apt="mariadb-client")
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RestoreError(f"the throwaway mariadbd exited (code {process.returncode}): {_last_error(log)}")
        if server.socket.is_socket():
            try:
                client.query(run, program, server.options, "SELECT 1", timeout=30)
                return
            except client.SQLError as exc:
                if time.monotonic() > deadline:
                    raise RestoreError(f"cannot log into the throwaway mariadbd: {exc}") from None
        if time.monotonic() > deadline:
            raise RestoreError(f"the throwaway mariadbd did not listen within {READY_TIMEOUT:g} s: "
                               f"{_last_error(log)}")
        time.sleep(0.1)


def _stop(run: RunContext, process: subprocess.Popen[Any]) -> None:
    """SIGTERM (a fast shutdown: nothing is flushed), then SIGKILL to its process group."""
    try:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    finally:
        run.forget(process)

