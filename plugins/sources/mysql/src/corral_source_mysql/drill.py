"""``corral drill`` for ``mysql`` and ``mysql_xtradb``: restore the newest archive into a MariaDB corral owns,
compare it with the facts recorded at dump time, run the job's checks.

``mysql``: a throwaway server (:mod:`throwaway`) gets the dump under its own name through the path
``corral restore --into`` takes; or, with the job's ``drill: server``, that scratch server gets it as
``corral_drill_<random>``, dropped afterwards. Its base tables are compared by name and by exact ``COUNT(*)``
against the row estimates recorded (within ``tolerance``: the recorded side is InnoDB's estimate; the restored
side is counted, so an estimate error is the only slack a good backup needs). ``mysql_xtradb``: the backup is
unpacked and prepared in the scratch folder (``corral restore --to``), a throwaway server is started on it, and
each database's table count is compared exactly.
"""

from __future__ import annotations

import secrets
from typing import Any

from corral import DrillReport, DrillRequest, JobConfig, RestoreRequest, RunContext, command_check, compare_counts
from corral_source_mysql import client, facts, restore, throwaway, tools
from corral_source_mysql.restore import Server, identifier

COUNT_TIMEOUT = 3600.0  # seconds for the row counts of one batch of tables
CHECK_TIMEOUT = 600.0
SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")
BATCH = 200  # tables counted per client call (the statement is one argument: under 128 KiB)
_BASE_TABLES = ("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = CONVERT(X'{hex}' USING "
                "utf8mb4) AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') ORDER BY TABLE_NAME")


def rows_text(count: int) -> str:
    """``950``, ``12,345``, ``3.4M``, ``1.2G``."""
    for size, unit in ((10**9, "G"), (10**6, "M")):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return f"{count:,}"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'s' * (count != 1)}"


def drill_dump(job: JobConfig, storage: Any, target: str, run: RunContext, request: DrillRequest) -> DrillReport:
    """The dump of database ``target`` into a throwaway server, or into ``drill: server`` under a random name."""
    if request.server is not None:
        return _on_scratch_server(job, storage, target, run, request, request.server)
    folder = throwaway.folder_in(request.scratch)
    data = throwaway.install(run, folder)
    name = f"corral_drill_{target}" if target.lower() in SYSTEM_SCHEMAS else target  # the loader's, never mysql's
    with throwaway.started(run, folder, data, loads=(name,)) as server:
        into = server.server()
        _load(job, storage, target, run, request, into, name)
        return _judge(run, request, into, name, server.env(name))


def _on_scratch_server(job: JobConfig, storage: Any, target: str, run: RunContext, request: DrillRequest,
                       address: str) -> DrillReport:  # fmt: skip
    name = f"corral_drill_{secrets.token_hex(6)}"
    given = restore.parse_into(address)
    env = {"CORRAL_DRILL_DATABASE": name}
    if given.socket is not None:
        env |= {"MYSQL_HOST": "localhost", "MYSQL_UNIX_PORT": str(given.socket)}
    else:
        env |= {"MYSQL_HOST": given.db_host or "localhost", **({"MYSQL_TCP_PORT": str(given.db_port)}
                                                               if given.db_port else {})}
    with restore.server(job, target, address, request.scratch) as into:
        try:
            _load(job, storage, target, run, request, into, name)
            return _judge(run, request, into, name, env)
        finally:
            program = tools.find(tools.CLIENTS, apt="mariadb-client")
            try:
                into.query(run, program, f"DROP DATABASE IF EXISTS {identifier(name)}")
            except Exception as exc:  # the verdict stands; the leftover is said
                request.say(f"could not drop `{name}` on {into.where}: {exc}")


def _load(job: JobConfig, storage: Any, target: str, run: RunContext, request: DrillRequest, into: Server,
          name: str) -> None:  # fmt: skip
    restore.restore_database(job, storage, target, run,
                             RestoreRequest(archive=request.archive, as_name=name, say=request.say), known=into)


def counts(run: RunContext, program: str, into: Server, database: str) -> dict[str, int]:
    """Each base table of ``database`` and its exact ``COUNT(*)`` (counted as the loader when there is one)."""
    login = into.loader or into.login
    lines = into.query(run, program, _BASE_TABLES.format(hex=database.encode().hex()))
    names = [client.unescape(line) for line in lines]
    found: dict[str, int] = {}
    for start in range(0, len(names), BATCH):
        batch = names[start:start + BATCH]
        statement = "".join(f"SELECT COUNT(*) FROM {identifier(database)}.{identifier(n)};" for n in batch)
        try:
            numbers = client.query(run, program, login, statement, timeout=COUNT_TIMEOUT)
        except client.SQLError as exc:
            raise restore.RestoreError(f"mysql {into.where}: counting the rows: {exc}") from None
        found.update(zip(batch, (int(n) for n in numbers), strict=True))
    return found


def at_most(found: dict[str, int], recorded: dict[str, int | None]) -> dict[str, int]:
    """The exact counts, each capped at the estimate recorded: a copy that holds more rows than InnoDB estimated
    lost none (its estimates of tables with rows of very different sizes run 10 % short even after ``ANALYZE``),
    so only fewer rows than recorded, beyond ``tolerance``, fail."""
    capped = {}
    for name, count in found.items():
        estimate = recorded.get(name)
        capped[name] = count if estimate is None else min(count, estimate)
    return capped


def _judge(run: RunContext, request: DrillRequest, into: Server, database: str, env: dict[str, str]) -> DrillReport:
    program = tools.find(tools.CLIENTS, apt="mariadb-client")
    found = counts(run, program, into, database)
    restored = f"{_plural(len(found), 'table')}, {rows_text(sum(found.values()))} rows"
    problems: list[str] = []
    tables = request.facts.get("tables")
    if isinstance(tables, dict):
        recorded = {name: (fact or {}).get("rows") for name, fact in tables.items()}
        problems += compare_counts("table", recorded, at_most(found, recorded), request.tolerance)
    elif request.facts:
        restored += "; the dump recorded no table statistics to compare with"
    passed = _checks(run, request, program, (*(into.loader or into.login), f"--database={database}"), env)
    problems += passed[1]
    return DrillReport(restored=restored, problems=problems, checks=passed[0],
                       compared=isinstance(tables, dict) or not request.facts)


def _checks(run: RunContext, request: DrillRequest, program: str, login: tuple[str, ...],
            env: dict[str, str]) -> tuple[int, list[str]]:  # fmt: skip
    """(checks passed, one problem per check failed): ``sql`` must return a row, ``command`` must exit 0."""
    passed, problems = 0, []
    for check in request.checks:
        if check.sql is not None:
            try:
                got = client.query(run, program, login, check.sql, timeout=CHECK_TIMEOUT)
            except client.SQLError as exc:
                problems.append(f"check `{check.sql}` failed: {exc}")
                continue
            if not got:
                problems.append(f"check `{check.sql}` returned no row")
                continue
        else:
            failure = command_check(run, check, request.scratch, {**env, "CORRAL_DRILL_DIR": str(request.scratch)})
            if failure:
                problems.append(failure)
                continue
        passed += 1
    return passed, problems


def drill_physical(storage: Any, target: str, run: RunContext, request: DrillRequest) -> DrillReport:
    """Unpack and prepare the physical backup in the scratch folder, start a throwaway server on it, compare
    each database's table count, run the checks (``sql`` without a default database: name ``db.table``)."""
    folder = throwaway.folder_in(request.scratch)
    data = folder / throwaway.SERVER / "data"
    data.mkdir(mode=0o700)
    throwaway.own(data)
    restore.restore_physical(storage, target, data, run, RestoreRequest(archive=request.archive, to=data,
                                                                        say=request.say),
                             as_user=throwaway.as_owner(), owned=throwaway.localized)  # fmt: skip
    program = tools.find(tools.CLIENTS, apt="mariadb-client")
    with throwaway.started(run, folder, data) as server:
        into = server.server()
        throwaway.demote(run, server)
        lines = into.query(run, program, facts.SIZES)
        found = {client.unescape(name): int(count) for name, count, _ in (line.split("\t") for line in lines)}
        restored = f"{_plural(len(found), 'database')}, {_plural(sum(found.values()), 'table')}"
        problems: list[str] = []
        databases = request.facts.get("databases")
        if isinstance(databases, dict):
            recorded = {name: (fact or {}).get("tables") for name, fact in databases.items()}
            problems += compare_counts("tables in database", recorded, found)
        passed, failed = _checks(run, request, program, into.loader or into.login, server.env(None))
        return DrillReport(restored=restored, problems=problems + failed, checks=passed,
                           compared=isinstance(databases, dict) or not request.facts)

