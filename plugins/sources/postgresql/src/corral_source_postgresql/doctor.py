"""``corral doctor`` for ``postgresql`` and ``postgresql_hot``: the client programs (past Debian's pg_wrapper, as a
dump calls them), the server reached with the job's login, and pg_dump's or pg_basebackup's major version against
the server's: neither reads a server newer than itself."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from corral import Check, DumpError, RunContext
from corral.doctoring import Program, codec, numbers, older, version_in, version_of
from corral_source_postgresql.connection import Server, client_env
from corral_source_postgresql.databases import list_databases, select
from corral_source_postgresql.facts import FactsError, query
from corral_source_postgresql.options import DumpSource, HotSource
from corral_source_postgresql.programs import locate

ABOUT = ("SELECT json_build_object('server', current_setting('server_version'), 'replication', "
         "(SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user), 'bytes', "
         "(SELECT sum(pg_database_size(oid)) FROM pg_database WHERE has_database_privilege(oid, 'CONNECT')))")


def tool(name: str) -> Program:
    """A client program as a dump runs it (the newest version behind pg_wrapper) and its version."""
    try:
        path = locate(name)[name]
    except DumpError as exc:
        return Program(name, None, None, Check.fail(str(exc)))
    version = version_of(path)
    return Program(name, path, version, Check.ok(f"{name} {version or '(version unknown)'}"))


def _about(run: RunContext, psql: str, server: Server, env: dict[str, str], dbname: str) -> dict[str, Any]:
    try:
        return query(run, psql, server, env, dbname, ABOUT)
    except FactsError as exc:
        return {"error": str(exc)}


def _against(found: Program, server: str, label: str) -> Check:
    """``pg_dump 15.18 (server 15.18 at `user@host:port`)``; FAIL when its major version is older than the
    server's (pg_dump and pg_basebackup refuse a newer server)."""
    if found.path is None:
        return found.check
    fact = f"{found.check.text} (server {version_in(server) or server} at {label})"
    if older(found.version, version_in(server)):
        major = numbers(version_in(server))[0]
        return Check.fail(f"{fact}: {found.name} must be of the server's major version or newer "
                          f"(apt install postgresql-client-{major})")
    return Check.ok(fact)


def check_dump(source: DumpSource, tmp_dir: Path, run: RunContext) -> list[Check]:
    """psql, pg_dump (and pg_dumpall for the globals) against the server's version, the databases, the codec."""
    psql = tool("psql")
    tools = [tool("pg_dump"), *([tool("pg_dumpall")] if source.globals else [])]
    if psql.path is None:
        return [psql.check, *(found.check for found in tools), codec(source.codec_name)]
    server = Server.from_config(source.connect)
    checks = [Check.ok(f"{psql.check.text} (lists the databases)")]
    with client_env(server, tmp_dir) as env:
        try:
            existing = list_databases(run, psql.path, server, env)
        except DumpError as exc:
            return [*checks, Check.fail(str(exc)), *(found.check for found in tools), codec(source.codec_name)]
        about = _about(run, psql.path, server, env, "postgres" if "postgres" in existing else "template1")
    version = str(about.get("server") or "?")
    checks += [_against(found, version, server.label) for found in tools]
    chosen, missing = select(source.target, source.excludes, existing)
    checks += [Check.fail(f"database `{name}` does not exist on {server.label}") for name in missing]
    checks.append(Check.ok(f"{len(chosen)} database(s) to dump: {', '.join(chosen)}") if chosen else
                  Check.warn(f"no database to dump on {server.label}"))
    return [*checks, codec(source.codec_name)]


def check_hot(source: HotSource, tmp_dir: Path, work: Path, run: RunContext) -> list[Check]:
    """pg_basebackup against the server's version, the replication right, tar, room in the work area ``work``
    for the base backup's pieces, the codec."""
    basebackup, tar, psql = tool("pg_basebackup"), tool("tar"), tool("psql")
    checks = [tar.check]
    if psql.path is None:
        return [basebackup.check, *checks, Check.warn(f"{psql.check.text}: the manifest gets no facts"),
                codec(source.codec_name)]
    server = Server.from_config(source.connect)
    with client_env(server, tmp_dir) as env:
        about = _about(run, psql.path, server, env, "postgres")
        if "error" in about:
            about = _about(run, psql.path, server, env, "template1")
    if "error" in about:
        return [basebackup.check, *checks, Check.fail(f"{server.label}: cannot connect: {about['error']}"),
                codec(source.codec_name)]
    checks.insert(0, _against(basebackup, str(about.get("server")), server.label))
    if not about.get("replication"):
        checks.append(Check.fail(f"user of {server.label} may not replicate: pg_basebackup needs the REPLICATION "
                                 "attribute (ALTER ROLE ... REPLICATION)"))
    checks.append(_room(work, int(about.get("bytes") or 0)))
    return [*checks, codec(source.codec_name)]


def _room(work: Path, size: int) -> Check:
    """The base backup's pieces are files in the work area before they are packed: at most the cluster's size."""
    existing = work
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    fact = f"work area `{work}`: {free / 2**30:.1f} GiB free for the base backup of {size / 2**20:.1f} MiB"
    return Check.warn(f"{fact} (uncompressed)") if free < size else Check.ok(fact)
