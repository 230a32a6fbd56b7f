"""``corral restore`` for ``mysql`` (a dump loaded into a server, under its own name or ``--as``) and
``mysql_xtradb`` (a physical backup unpacked and prepared in a folder).

A ``mysql`` archive is ``mariadb-dump --databases NAME``: it holds ``CREATE DATABASE`` and ``USE`` for its own
name, so ``zstd -dc FILE | mariadb`` recreates it by hand. Loading it as another name rewrites exactly those
statements on the way (:class:`Renaming`), so the dump lands in the database corral created and nowhere else.
The archive is read from the storage, decompressed and fed to the client as a stream: nothing on local disk but
the private option file with the password.
"""

from __future__ import annotations

import contextlib
import fnmatch
import ipaddress
import os
import posixpath
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from corral import (
    JobConfig,
    RestoreError,
    RestoreRequest,
    RunContext,
    decompressor,
    human_size,
    load,
    new_work_dir,
    restoring,
)
from corral.restore import RestoreRefused
from corral_source_mysql import client, stream, tools
from corral_source_mysql.optionfile import option_file
from corral_source_mysql.options import Connect, MySQLSource
from corral_source_mysql.signals import interruptible, shielded

CHUNK = 1 << 20
STAMP_LENGTH = len("2026-01-31_03-00-00")
LONGEST_STATEMENT = 4096  # a CREATE DATABASE line with every option; longer lines are data, never rewritten
# the line starts of the statements to rewrite: one regex pass finds them 2-3x faster than a find per start
# the dump is data, never the client's commands: an archive altered on a storage could otherwise run a shell
# (`\!`, `system`) or read root's files into the server (LOAD DATA LOCAL) as the root that restores or drills;
# --binary-mode leaves the client DELIMITER and charset only (MariaDB and MySQL alike)
LOAD_GUARDS = ("--binary-mode", "--local-infile=0")
# backup-my.cnf: what mariabackup writes of an unencrypted server (innodb_page_size, innodb_log_file_size,
# innodb_undo_directory=./, innodb_checksum_algorithm, innodb_data_file_path...), as key=value under [mysqld];
# Percona's xtrabackup adds server_id, server_uuid, master_key_id and redo_log_version
_BACKUP_CNF_KEY = re.compile(r"innodb_[a-z0-9_]+|server_id|server_uuid|master_key_id|redo_log_version")
_STARTS = re.compile(rb"\n(?:USE |CREATE DATABASE |/\*!40000 DROP DATABASE |DROP DATABASE )")
_DEFINER_STARTS = re.compile(rb"\n(?:USE |CREATE DATABASE |/\*!40000 DROP DATABASE |DROP DATABASE |/\*!50013 DEFINER=|"
                             rb"/\*!50003 CREATE\*/ /\*!50017 DEFINER=|/\*!50003 CREATE\*/ /\*!50020 DEFINER=|"
                             rb"/\*!50106 CREATE\*/ /\*!50117 DEFINER=|CREATE DEFINER=)")
# the lines mariadb-dump and mysqldump begin a view's, trigger's, routine's or event's definer with
_DEFINED = re.compile(rb"/\*!50013 DEFINER=|/\*!50(?:003|106) CREATE\*/ /\*!50(?:017|020|117) DEFINER=|CREATE DEFINER=")
_DEFINER = re.compile(rb"DEFINER=(?:`(?:[^`]|``)*`|'(?:[^'\\]|''|\\.)*'|[A-Za-z0-9_.$-]+)@"
                      rb"(?:`(?:[^`]|``)*`|'(?:[^'\\]|''|\\.)*'|[A-Za-z0-9_.%$:-]+)")


def extension_of(path: str, target: str) -> str:
    """``sql.zst`` of ``.../shop/shop_2026-01-31_03-00-00.sql.zst[.age]`` (decrypted on the way: no ``.age``)."""
    return posixpath.basename(path).removesuffix(".age")[len(target) + 1 + STAMP_LENGTH + 1:]


def identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def literal(name: str) -> str:
    """``name`` as a string literal no quoting can break: hex bytes read as utf8mb4."""
    return f"CONVERT(X'{name.encode().hex()}' USING utf8mb4)"


# ------------------------------------------------------------------------------------------- servers


def parse_into(text: str) -> Connect:
    """``--into``: ``[USER@]HOST[:PORT]``, ``[USER@][IPV6]:PORT`` or ``[USER@]/path/to/mysqld.sock``."""
    user, at, rest = text.rpartition("@")
    if not at:
        user, rest = "", text
    if not rest:
        raise RestoreRefused(f"--into `{text}` names no server: give HOST[:PORT], USER@HOST[:PORT] or a socket path")
    if rest.startswith("/"):
        return Connect(db_user=user or None, socket=Path(rest))
    host, port = rest, None
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port = tail.removeprefix(":") or None
    elif rest.count(":") == 1:
        host, port = rest.split(":")
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise RestoreRefused(f"--into `{text}`: `{port}` is not a port number")
    return Connect(db_user=user or None, db_host=host, db_port=int(port) if port else None)


def _host(name: str | None) -> str:
    """A host for comparison: the loopback names are one."""
    name = name or "localhost"
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(name).is_loopback:
            return "localhost"
    return name


def same_server(given: Connect, known: Connect) -> bool:
    """Whether ``--into`` names the server (and user) a source of the job connects to, so its password fits."""
    if given.db_user is not None and given.db_user != known.db_user:
        return False
    if given.socket is not None:
        return known.socket is not None and Path(known.socket).resolve() == Path(given.socket).resolve()
    return (known.socket is None and _host(given.db_host) == _host(known.db_host)
            and (given.db_port or 3306) == (known.db_port or 3306))


def source_of(job: JobConfig, database: str) -> MySQLSource:
    """The source whose targets include ``database``: named, else the one ``all`` source that does not exclude it."""
    sources = [cast(MySQLSource, s) for s in job.sources]
    named = [s for s in sources if database in s.target]
    if named:
        return named[0]
    every = [s for s in sources if "all" in s.target and not any(fnmatch.fnmatchcase(database, p) for p in s.excludes)]
    if len(every) == 1:
        return every[0]
    if every:
        servers = ", ".join(s.connect.where() for s in every)
        raise RestoreRefused(f"`{database}` may come from any of {servers} (`target: all`): name one with --into")
    raise RestoreRefused(f"no source of job `{job.name}` dumps `{database}` now: name the server with --into")


@dataclass(frozen=True)
class Server:
    """Where the database goes: ``login`` are the client's first arguments (a private option file with the job's
    password, or host and user for the client's own option files); ``where`` names it in messages. ``loader``: the
    login the dump itself is loaded as, when not ``login`` (a drill's throwaway server: an account with rights on
    that database only, so the dump's ``DEFINER=`` clauses become ``CURRENT_USER``)."""

    where: str
    login: tuple[str, ...]
    loader: tuple[str, ...] | None = None

    def query(self, run: RunContext, program: str, statement: str) -> list[str]:
        try:
            return client.query(run, program, self.login, statement)
        except client.SQLError as exc:
            raise RestoreError(f"mysql {self.where}: {exc}") from None


@contextlib.contextmanager
def server(job: JobConfig, database: str, into: str | None, work: Path) -> Iterator[Server]:
    """The server ``--into`` names (default: the job's own source of ``database``), logged in without a password
    in any process argument."""
    if into is None:
        known: Connect | None = source_of(job, database).connect
        given = known
    else:
        given = parse_into(into)
        known = next((c for c in (cast(MySQLSource, s).connect for s in job.sources) if same_server(given, c)), None)
    assert given is not None
    if known is not None:  # the job's own login: its password through a private option file
        with option_file(work, known) as options:
            yield Server(given.where(), (f"--defaults-file={options}",))
        return
    args = [f"--socket={given.socket}"] if given.socket is not None else [f"--host={given.db_host}"]
    if given.db_port is not None:
        args += [f"--port={given.db_port}", "--protocol=TCP"]
    if given.db_user is not None:
        args.append(f"--user={given.db_user}")
    yield Server(given.where(), tuple(args))  # the password, if any, from the client's own ~/.my.cnf


# ------------------------------------------------------------------------------------ the SQL stream


class Renaming:
    """Rewrites a dump's statements about its own database so that it loads into ``new``: ``USE old`` becomes
    ``USE new``, ``CREATE DATABASE old OPTIONS`` becomes ``ALTER DATABASE new OPTIONS`` (the character set and
    collation survive; corral created the database), ``DROP DATABASE old`` goes. Only whole short lines that are
    exactly such a statement change; the rows pass untouched (one regex pass that skips to each newline: GB/s).
    ``definers``: the ``DEFINER=`user`@`host``` of a view, trigger, routine or event line becomes
    ``DEFINER=CURRENT_USER``, for a loader without the right to name another account (nor the need: the
    production accounts do not exist where a drill loads it); one it misses fails the load, never more."""

    def __init__(self, old: str, new: str, definers: bool = False) -> None:
        self.definers = definers
        names = [re.escape(identifier(old).encode())]
        if re.fullmatch(r"[A-Za-z0-9_$]+", old):
            names.append(re.escape(old.encode()))  # --skip-quote-names
        name = b"(?:" + b"|".join(names) + b")"
        self.new = identifier(new).encode()
        self.use = re.compile(rb"USE " + name + rb";")
        self.create = re.compile(rb"CREATE DATABASE (?:/\*!32312 IF NOT EXISTS\*/ |IF NOT EXISTS )?" + name
                                 + rb"(?P<options>(?: [^\n]*)?);")
        self.drop = re.compile(rb"(?:/\*!40000 DROP DATABASE IF EXISTS " + name + rb"\*/|DROP DATABASE (?:IF EXISTS )?"
                               + name + rb");")
        self.held = b"\n"  # a line start before the first byte, cut from the output
        self.first = True
        self.rewritten = 0

    def _line(self, line: bytes) -> bytes | None:
        if self.use.fullmatch(line):
            return b"USE " + self.new + b";"
        found = self.create.fullmatch(line)
        if found:
            options = found["options"]
            return b"ALTER DATABASE " + self.new + options + b";" if options.strip() else b""
        if self.drop.fullmatch(line):
            return b""
        if self.definers and _DEFINED.match(line):
            return _DEFINER.sub(b"DEFINER=CURRENT_USER", line, count=1)
        return None

    def _edit(self, buf: bytes, limit: int, final: bool) -> bytes:
        edits: list[tuple[int, int, bytes]] = []
        for found in (_DEFINER_STARTS if self.definers else _STARTS).finditer(buf, 0, limit):
            at = found.start()
            end = buf.find(b"\n", at + 1)
            if end == -1 and final:
                end = len(buf)
            if end != -1 and end - at <= LONGEST_STATEMENT:
                new = self._line(buf[at + 1:end])
                if new is not None:
                    edits.append((at + 1, end, new))
        if not edits:
            return buf[:limit]
        self.rewritten += len(edits)
        pieces, last = [], 0
        for begin, end, new in edits:  # in order: one pass
            pieces += [buf[last:begin], new]
            last = end
        pieces.append(buf[last:limit])
        return b"".join(pieces)

    def feed(self, data: bytes, final: bool = False) -> bytes:
        """The rewritten bytes of everything fed so far but a short last line (it may be a statement cut in two)."""
        buf = self.held + data
        cut = len(buf) if final else buf.rfind(b"\n")
        if cut == -1 or len(buf) - cut > LONGEST_STATEMENT:
            cut = len(buf)  # a long line (rows): no statement to finish; the next bytes continue it
        out = self._edit(buf, cut, final)
        self.held = buf[cut:]
        if self.first and out:
            out, self.first = out[1:], False
        return out


class Unpacked(restoring.Unpacked):
    """The SQL of a stored archive as a stream for :func:`corral.restoring.load`: decompressed by the standard
    tool (found as the dumps find it, read 1 MiB at a time) and renamed on the way."""

    def __init__(self, run: RunContext, source: BinaryIO, extension: str, renaming: Renaming) -> None:
        super().__init__(run, source, extension, renaming.feed, "corral-mysql-unpack")

    def program(self, name: str) -> str:
        return tools.find((name,), apt=name)

    def started(self, process: subprocess.Popen[bytes]) -> None:
        stream.widen(process.stdout)  # 1 MiB at a time from zstd: fewer wake-ups, as for dumps

    def error_line(self, said: list[str], code: int) -> str:
        return stream.error_line(said, f"exit code {code}").replace("/*stdin*\\ : ", "")


# ------------------------------------------------------------------------------------------- restores


def tally(found: list[str]) -> tuple[bool, int, int, int]:
    """(exists, base tables, views, routines and events) from the check query's one line."""
    exists, tables, views, routines = (int(v) for v in found[0].split("\t"))
    return bool(exists), tables, views, routines


def counted(tables: int, views: int, routines: int = 0) -> str:
    text = f"{tables} table{'s' * (tables != 1)}"
    text += f", {views} view{'s' * (views != 1)}" if views else ""
    return text + (f", {routines} routine{'s' * (routines != 1)} or event{'s' * (routines != 1)}" if routines else "")


def state_query(name: str) -> str:
    schema = f"CAST({literal(name)} AS BINARY)"
    tables = f"SELECT COUNT(*) FROM information_schema.TABLES WHERE CAST(TABLE_SCHEMA AS BINARY) = {schema}"
    return (f"SELECT (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE CAST(SCHEMA_NAME AS BINARY) = {schema}),"
            f" ({tables} AND TABLE_TYPE <> 'VIEW'), ({tables} AND TABLE_TYPE = 'VIEW'),"
            # a dump's DROP PROCEDURE IF EXISTS replaces a routine of the same name: a database with only
            # routines or events is not empty
            " (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE CAST(ROUTINE_SCHEMA AS BINARY) = "
            f"{schema}) + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE CAST(EVENT_SCHEMA AS BINARY) = "
            f"{schema})")


def restore_database(job: JobConfig, storage: Any, target: str, run: RunContext, request: RestoreRequest,
                     known: Server | None = None) -> list[str]:  # fmt: skip
    """Load the chosen dump into a server as ``request.as_name`` (default: its own name); ``known``: a server
    already logged into (a drill's throwaway one) instead of ``request.into``."""
    archive = request.archive
    name = request.as_name or target
    program = tools.find(tools.CLIENTS, apt="mariadb-client")
    work = new_work_dir(job.tmp_dir)
    try:
        with contextlib.nullcontext(known) if known else server(job, target, request.into, work) as into:
            exists, tables, views, routines = tally(into.query(run, program, state_query(name)))
            held = tables + views + routines
            where = f"database `{name}` on {into.where}"
            size = human_size(archive.size)
            if exists and held and not request.force:
                raise RestoreRefused(f"{where} holds {counted(tables, views, routines)}: left as it is; restore under "
                                     "another name with --as NAME, or replace it with --force")
            if request.dry_run:
                state = ("does not exist: would create it" if not exists else "exists and is empty: would load "
                         "into it" if not held else f"holds {counted(tables, views, routines)}: would drop and "
                         "re-create it (--force)")
                request.say(f"would load `{archive.path}` ({size}) into {where}; it {state}")
                return [archive.path]
            if exists and held:
                into.query(run, program, f"DROP DATABASE {identifier(name)}")
                request.say(f"dropped {where} ({counted(tables, views, routines)}; --force)")
                exists = False
            with interruptible(run):  # SIGTERM from here on unwinds through _load's drop
                started = _load(run, program, into, storage, target, name, exists, request)
            _, tables, views, _ = tally(into.query(run, program, state_query(name)))
            request.say(f"loaded `{archive.path}` ({size}) in {time.monotonic() - started:.1f} s: "
                        f"{counted(tables, views)}")
    finally:
        with contextlib.suppress(OSError):
            work.rmdir()
    return [archive.path]


def _load(run: RunContext, program: str, into: Server, storage: Any, target: str, name: str, exists: bool,
          request: RestoreRequest) -> float:  # fmt: skip
    """Create ``name`` unless it ``exists`` (empty) and load the archive into it; a database created here is
    dropped again when the load fails or is stopped, one that was there never is. Returns when the load began."""
    archive, where = request.archive, f"database `{name}` on {into.where}"
    try:
        if exists:
            request.say(f"{where} exists and is empty: loading into it")
        else:
            into.query(run, program, f"CREATE DATABASE {identifier(name)}")
            request.say(f"created {where}")
        started = time.monotonic()
        sql = Unpacked(run, storage.open_read(archive.path), extension_of(archive.path, target),
                       Renaming(target, name, definers=into.loader is not None))
        try:
            load(run, cast(BinaryIO, sql), "sql", [program, *(into.loader or into.login), *LOAD_GUARDS,
                                                   f"--database={name}"])
        finally:
            sql.close()
    except BaseException as exc:
        if exists:
            if isinstance(exc, RestoreError):
                raise RestoreError(f"{where} is partly loaded: {exc}") from None
            raise
        with shielded():  # IF EXISTS: the CREATE itself may be what failed
            into.query(run, program, f"DROP DATABASE IF EXISTS {identifier(name)}")
        if isinstance(exc, RestoreError):
            raise RestoreError(f"{where}: {exc}; dropped the half-loaded database") from None
        request.say(f"stopped: dropped the half-loaded {where}")
        raise
    return started


def check_backup_cnf(dest: Path) -> None:
    """Refuse a ``backup-my.cnf`` that says more than the InnoDB geometry mariabackup writes there: ``--prepare``
    reads it as server options, and an archive altered on the storage could ask it to load a library of its own
    (``plugin_load=evil.so``, ``plugin_dir=.``: code run as root), include another file, or put InnoDB files
    outside ``dest``. The encryption plugin settings of an encrypted server's backup are refused alike."""
    path = dest / "backup-my.cnf"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return  # mariabackup itself says what is missing
    except OSError as exc:
        raise RestoreError(f"`{path}`: {exc.strerror}: refused before `mariabackup --prepare`") from None
    with os.fdopen(fd, encoding="utf-8", errors="replace") as lines:
        for number, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line[0] in "#;" or line.lower() == "[mysqld]":
                continue
            key, _, value = line.partition("=")
            key = key.strip().replace("-", "_").lower()
            value = value.strip().strip("\"'")
            if not _BACKUP_CNF_KEY.fullmatch(key) or (("/" in value or ".." in value) and value not in ("./", ".")):
                shown = line[:80] if line.startswith(("!", "[")) or not key else key
                raise RestoreRefused(f"`{path}` line {number}: `{shown}` is not a setting mariabackup writes "
                                     "there (an archive altered on the storage?): refused before `mariabackup "
                                     "--prepare`, which would apply it as root")


def check_renames(dest: Path) -> None:
    """Refuse a ``db/t.ren`` (a table renamed while the backup ran) that names anything but ``db/table``:
    ``--prepare`` renames ``db/t.ibd`` to ``./`` + what it says + ``.ibd`` unchecked, so an archive altered on the
    storage could move a file of its own anywhere on the filesystem, over what was there (as root on ``restore
    --to``: an ``/etc/apt/apt.conf.d/99x.ibd`` that apt reads; as ``mysql`` in a drill: the production server's
    live ``.ibd``)."""
    for top, _, files in os.walk(dest):
        for name in sorted(files):
            if not name.endswith(".ren"):
                continue
            path = Path(top) / name
            shown = path.relative_to(dest)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
                with os.fdopen(fd, "rb") as source:
                    said = source.read(4096).decode("utf-8", errors="replace")
            except OSError as exc:
                raise RestoreError(f"`{path}`: {exc.strerror}: refused before `mariabackup --prepare`") from None
            parts = said.split("/")
            if len(parts) != 2 or any(part.strip() in ("", ".", "..") or "\0" in part for part in parts):
                text = "".join(c if c.isprintable() else "?" for c in said)[:120]
                raise RestoreRefused(f"`{shown}` renames a table's file to `{text}`, not `database/table` (an archive "
                                     "altered on the storage?): refused before `mariabackup --prepare`, which would "
                                     "move it there")


def restore_physical(storage: Any, target: str, dest: Path | None, run: RunContext, request: RestoreRequest,
                     as_user: dict[str, Any] | None = None, owned: Callable[[Path], None] | None = None
                     ) -> list[str]:  # fmt: skip
    """Unpack the xbstream into ``dest`` and prepare it (apply the redo log): ready for ``--copy-back``.
    ``as_user``: ``run.run`` keywords that prepare as another user (a drill's ``mysql``); ``owned`` gives it the
    unpacked files first."""
    if dest is None:
        raise RestoreRefused("a physical backup is restored into a folder: give --to DIR")
    archive = request.archive
    extension = extension_of(archive.path, target)
    unpack = decompressor(extension)
    shown = f"{' '.join(unpack)} | " if unpack else ""
    if request.dry_run:
        request.say(f"would unpack `{archive.path}` ({human_size(archive.size)}) with `{shown}mbstream -x` into "
                    f"`{dest}` and prepare it with `mariabackup --prepare`")
        return [archive.path]
    extract = tools.find(("mbstream", "xbstream"), apt="mariadb-backup")
    tool = tools.find(tools.BACKUP_TOOLS if Path(extract).name == "mbstream" else tools.BACKUP_TOOLS[::-1],
                      apt="mariadb-backup")
    started = time.monotonic()
    source = storage.open_read(archive.path)
    try:
        load(run, source, extension, [extract, "-x", "-C", str(dest)], failing=_mbstream_refused)
    finally:
        source.close()
    request.say(f"unpacked `{archive.path}` ({human_size(archive.size)}) into `{dest}` in "
                f"{time.monotonic() - started:.1f} s")
    check_backup_cnf(dest)
    check_renames(dest)
    if owned is not None:
        owned(dest)
    started = time.monotonic()
    done = run.run([tool, "--prepare", f"--target-dir={dest}"], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   **(as_user or {}))
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").splitlines()
        raise RestoreError(f"{Path(tool).name} --prepare failed (exit {done.returncode}): "
                           f"{stream.error_line(said, 'no error output')}")
    request.say(f"prepared `{dest}` with {Path(tool).name} --prepare in {time.monotonic() - started:.1f} s: ready "
                f"for `{Path(tool).name} --copy-back --target-dir={dest}` or `mariadbd --datadir={dest}`")
    return [archive.path]


def _mbstream_refused(line: str) -> bool:
    """A line where mbstream/xbstream says it skipped or failed something: it exits 0 after ``invalid filename
    ../x`` (an entry that would land outside the folder), and prints nothing on a clean unpack."""
    return "mbstream:" in line or "xbstream:" in line
