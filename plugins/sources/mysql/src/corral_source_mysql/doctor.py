"""``corral doctor`` for ``mysql`` and ``mysql_xtradb``: the client programs and their versions, the server's
answer through the same option file a dump uses (so the same login), the databases found, the backup tool's
match with the server, and the data directory mariabackup reads."""

from __future__ import annotations

import os
from pathlib import Path

from corral import Check, DumpError, RunContext
from corral.doctoring import Program, codec, numbers, older, program, version_in
from corral_source_mysql import client, tools
from corral_source_mysql.dump import select_databases
from corral_source_mysql.optionfile import option_file
from corral_source_mysql.options import Connect, MySQLSource, XtradbSource

APT = "mariadb-client"


def _ask(run: RunContext, found: Program, connect: Connect, tmp_dir: Path, statement: str,
         groups: tuple[str, ...] = ("client",)) -> tuple[list[str], Check | None]:  # fmt: skip
    """The statement's output lines, or the FAIL check of a server that did not answer."""
    assert found.path is not None
    try:
        with option_file(tmp_dir, connect, groups) as options:
            return client.query(run, found.path, options, statement, timeout=30), None
    except (client.SQLError, DumpError) as exc:
        return [], Check.fail(f"server {connect.where()}: cannot connect: {exc}")


def check_dump(source: MySQLSource, tmp_dir: Path, run: RunContext) -> list[Check]:
    """The client that lists databases, the dump tool against the server's version, the databases, the codec."""
    mysql = program(tools.CLIENTS, APT, why="(lists the databases)")
    dumper = program(tools.DUMPERS, APT)
    checks = [mysql.check]
    if mysql.path is None:
        return [*checks, dumper.check, codec(source.codec_name)]
    lines, refused = _ask(run, mysql, source.connect, tmp_dir, "SELECT VERSION(); SHOW DATABASES")
    if refused is not None:
        return [*checks, refused, dumper.check, codec(source.codec_name)]
    server = lines[0] if lines else "?"
    checks.append(_against(dumper, server, source.connect.where(), parts=2))
    chosen, missing = select_databases(source.target, source.excludes, [client.unescape(n) for n in lines[1:]])
    checks += [Check.fail(f"no database `{name}` on {source.connect.where()}") for name in missing]
    checks.append(Check.ok(f"{len(chosen)} database(s) to dump: {', '.join(chosen) or 'none'}") if chosen else
                  Check.warn(f"no database to dump on {source.connect.where()} (target {', '.join(source.target)})"))
    return [*checks, codec(source.codec_name)]


def _against(tool: Program, server: str, where: str, parts: int) -> Check:
    """``mariadb-dump 10.11.19 (server 10.11.19-MariaDB at 127.0.0.1:3306)``; a warning when the tool is older than
    the server in its first ``parts`` numbers (it may not know the server's newer features)."""
    if tool.path is None:
        return tool.check
    fact = f"{tool.check.text} (server {version_in(server) or server} at {where})"
    if older(tool.version, version_in(server), parts):
        return Check.warn(f"{fact}: the tool is older than the server; install the server's client ({APT})")
    return Check(tool.check.status, fact)


def check_physical(source: XtradbSource, tmp_dir: Path, run: RunContext) -> list[Check]:
    """mariabackup of the server's own version, mbstream to unpack it, the data directory on this server."""
    tool = program(tools.BACKUP_TOOLS, "mariadb-backup")
    unpacker = program(("mbstream", "xbstream"), "mariadb-backup", versioned=False, why="(unpacks at restore)")
    mysql = program(tools.CLIENTS, APT, why="(asks the server's version)")
    checks = [unpacker.check, mysql.check]
    if mysql.path is None:
        return [tool.check, *checks, codec(source.codec_name)]
    lines, refused = _ask(run, mysql, source.connect, tmp_dir, "SELECT VERSION(), @@datadir")
    if refused is not None or not lines:
        return [tool.check, *checks, refused or Check.fail("the server did not say its version"),
                codec(source.codec_name)]
    server, _, datadir = lines[0].partition("\t")
    checks.insert(0, _matching(tool, server, source.connect.where()))
    checks.append(_datadir(datadir))
    return [*checks, codec(source.codec_name)]


def _matching(tool: Program, server: str, where: str) -> Check:
    """A physical backup needs the tool of the server's major.minor version: another one cannot read its redo log."""
    if tool.path is None:
        return tool.check
    fact = f"{tool.check.text} (server {version_in(server) or server} at {where})"
    found, wanted = numbers(tool.version)[:2], numbers(version_in(server))[:2]
    if found and wanted and found != wanted:
        return Check.fail(f"{fact}: the backup tool must be the server's version "
                          f"{'.'.join(map(str, wanted))} (apt install mariadb-backup)")
    return Check(tool.check.status, fact)


def _datadir(datadir: str) -> Check:
    if not datadir:
        return Check.warn("the server did not say its datadir")
    if not os.path.isdir(datadir):
        return Check.fail(f"datadir `{datadir}` is not on this server: the backup tool copies the data files, "
                          "so corral must run on the database server")
    if not os.access(datadir, os.R_OK | os.X_OK):
        return Check.fail(f"datadir `{datadir}` cannot be read by this user")
    return Check.ok(f"datadir `{datadir}` readable here")
