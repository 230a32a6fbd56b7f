"""The private option file that carries the connection (and the password) to every MySQL client program.

Passwords never go into process arguments, where ``ps`` shows them to every user. Each client gets
``--defaults-file=FILE`` (mode 0600, in the job's tmp dir, deleted afterwards) instead. The file includes the
system-wide option files first, so server settings such as ``datadir`` (which mariabackup needs) and client
defaults still apply, then ``auth_file``, then the keys of ``connect``, which therefore win. A port without a
socket means TCP, even with ``db_host: localhost`` (for which the clients would otherwise use the default
socket and ignore the port). The user's own ``~/.my.cnf`` is deliberately not read: with
``--defaults-extra-file`` it would be read last and silently replace the configured user and password.

``auth_file`` must be a file only root or the running user can change (and the folders on the way to it): its
options are the client's, and ``plugin-dir`` with ``default-auth`` load a shared library into the dump tool, run
as root. A site user's own ``~/.my.cnf`` is therefore refused, as the configuration's files are.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from corral import DumpError
from corral.config.trust import untrusted
from corral_source_mysql.options import Connect

SYSTEM_OPTION_FILES = (Path("/etc/my.cnf"), Path("/etc/mysql/my.cnf"))
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b"}


def quote(value: str) -> str:
    """A value as the MySQL/MariaDB option-file parser reads it back unchanged (quotes, #, spaces, newlines)."""
    return '"' + "".join(_ESCAPES.get(char, char) for char in value) + '"'


def option_text(connect: Connect, groups: tuple[str, ...] = ("client",)) -> str:
    """The file's text: ``!include`` lines, then one block of connection keys per option group."""
    lines = [f"!include {path}" for path in SYSTEM_OPTION_FILES if path.is_file() and os.access(path, os.R_OK)]
    if connect.auth_file is not None:
        lines.append(f"!include {trusted_auth_file(connect.auth_file)}")
    keys: dict[str, str] = {}
    if connect.db_host is not None:
        keys["host"] = connect.db_host
    if connect.db_port is not None:
        keys["port"] = str(connect.db_port)
    if connect.socket is not None:
        keys["socket"] = str(connect.socket)
    elif connect.db_port is not None:
        keys["protocol"] = "TCP"  # `localhost` + port means that port (the article's 3306/3307), not the socket
    if connect.db_user is not None:
        keys["user"] = connect.db_user
    if connect.db_password is not None:
        keys["password"] = connect.db_password.get_secret_value()
    for group in groups:
        lines.append(f"[{group}]")
        lines.extend(f"{key}={quote(value)}" for key, value in keys.items())
    return "\n".join(lines) + "\n"


def trusted_auth_file(path: Path) -> str:
    """The real path of ``auth_file`` once checked: a readable regular file nobody but root or us can change."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError:
        raise DumpError(f"connect.auth_file `{path}` is not a readable file") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DumpError(f"connect.auth_file `{path}` is not a readable file")
        problem = untrusted(fd, str(path))
        if problem:
            raise DumpError(f"connect.auth_file: {problem}")
        return os.readlink(f"/proc/self/fd/{fd}")  # its folders are checked: nobody can swap it before the dump
    finally:
        os.close(fd)


@contextlib.contextmanager
def option_file(tmp_dir: Path, connect: Connect, groups: tuple[str, ...] = ("client",)) -> Iterator[Path]:
    """Write the option file (0600 from its creation on) for the duration of the block, then delete it."""
    text = option_text(connect, groups)
    fd, name = tempfile.mkstemp(prefix=".corral-mysql-", suffix=".cnf", dir=tmp_dir)  # mkstemp: mode 0600
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        yield path
    finally:
        path.unlink(missing_ok=True)
