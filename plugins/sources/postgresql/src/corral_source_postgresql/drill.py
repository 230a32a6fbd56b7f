"""``corral drill`` of ``postgresql`` and ``postgresql_hot`` targets.

``postgresql``: the dump goes into a throwaway server started in the scratch folder (:mod:`.throwaway`), or into
the job's ``drill: server`` as ``corral_drill_<target>`` (dropped after), by the same code as ``corral restore
--into``; in a throwaway server the same run's globals go first (so owners and grants come back as they were),
else pg_restore gets ``--no-owner --no-privileges``. Then ANALYZE, and the tables and their rows are compared
with the facts recorded at dump time, and the ``sql`` and ``command`` checks run on the restored database.
The ``globals`` target runs in a throwaway server of its own with psql: its roles must be created.

``postgresql_hot``: the base backup is unpacked into the scratch folder as ``corral restore --to`` does, a
server of its major version starts on it and replays its WAL, and the databases and their sizes are compared.
The backup's own settings, recovery files and links outside the scratch folder are taken out of the drill's copy
first (:mod:`.defused`); the server runs as ``postgres`` when corral is root, else as corral's user. Every login
to it passes startup options that outrank the backup's role and database settings: no preload library of the
backup's loads, and the drill's own queries see ``pg_catalog`` only (:data:`.throwaway.CATALOG_ONLY`).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from corral import (
    DrillCheck,
    DrillReport,
    DrillRequest,
    JobConfig,
    RestoreError,
    RestoreRequest,
    RunContext,
    command_check,
    compare_counts,
    human_size,
    own_backup,
)
from corral_source_postgresql.confined import ADMIN, LOADER, OPEN, confine
from corral_source_postgresql.connection import Server, first_error, source_prefix
from corral_source_postgresql.defused import defuse
from corral_source_postgresql.facts import CLUSTER_QUERY, COUNT_BUDGET, DATABASE_QUERY, FactsError, query
from corral_source_postgresql.hot_restore import restore_hot
from corral_source_postgresql.options import DumpSource, HotSource
from corral_source_postgresql.programs import locate
from corral_source_postgresql.restore import (
    GLOBALS,
    MAINTENANCE,
    Place,
    _client,
    _database,
    _globals,
    _original_name,
    _place,
    _psql,
    _query,
    _stream,
)
from corral_source_postgresql.throwaway import CATALOG_ONLY, NO_PRELOAD, initdb, prepare, serve, server_bin_dir

DRILL_PREFIX = "corral_drill_"
_NO_OWNER = ("--no-owner", "--no-privileges", "--no-tablespaces")
_THROWAWAY = {"skip_tablespaces": True}  # its server has none of the tablespaces' folders
_NO_SUBSCRIPTIONS = ("--no-publications", "--no-subscriptions")  # need a superuser: not the drill's loader
_CREATE_ROLE = re.compile(r"^CREATE ROLE ", re.MULTILINE)
# the counting query sees no function or operator the dump defined (ALTER DATABASE ... SET search_path included);
# both settings are a non-superuser's to set, unlike NO_PRELOAD's session_preload_libraries
_CATALOG_SEARCH = "-c search_path=pg_catalog -c local_preload_libraries="


def drill_dump(job: JobConfig, storage: Any, target: str, run: RunContext, request: DrillRequest) -> DrillReport:
    sources = [s for s in job.sources if isinstance(s, DumpSource)]
    globals_targets = {source_prefix(job, s, Server.from_config(s.connect)) + GLOBALS for s in sources}
    if target in globals_targets:
        return _drill_globals(job, storage, run, request)
    dbname = _original_name(sources, target)
    if request.server is not None:  # the user's scratch server: a database of our own name, dropped after
        place = _place(job, sources, request.server, None)
        name = DRILL_PREFIX + target
        try:
            with _client(place, job) as env:
                _restore(job, storage, run, request, place, name, _NO_OWNER, force=True)
                return _compare_database(run, place, env, name, request, {})
        finally:
            with _client(place, job) as env:
                _query(run, place, env, MAINTENANCE, 'DROP DATABASE IF EXISTS :"name" WITH (FORCE)', {"name": name})
    folder = prepare(request.scratch)
    bin_dir = server_bin_dir()
    data = initdb(run, bin_dir, folder, ADMIN)
    with serve(run, bin_dir, folder, data, [ADMIN], request.say,
               ("wal_level=minimal", "max_wal_senders=0")) as pg:
        place = Place(pg.server(), "the throwaway server", None)
        roles = _same_run_globals(job, storage, run, request, place, sources, dbname)
        with _client(place, job) as env:
            confine(run, place, env)
        args = _NO_SUBSCRIPTIONS if roles else _NO_OWNER + _NO_SUBSCRIPTIONS
        _restore(job, storage, run, request, place, dbname, args, force=False, loader=LOADER)
        loader = replace(pg, user=LOADER)  # no superuser reads what the archive defined
        place = Place(loader.server(), "the throwaway server", None)
        with _client(place, job) as env:
            return _compare_database(run, place, env, dbname, request, loader.env(dbname))


def _restore(job: JobConfig, storage: Any, run: RunContext, request: DrillRequest, place: Place, name: str,
             args: tuple[str, ...], force: bool, loader: str | None = None) -> None:  # fmt: skip
    """``corral restore --into``'s own path: the database created, the archive streamed into pg_restore/psql
    (connected as ``loader`` when given, which then owns the database)."""
    options: dict[str, Any] = {"pg_restore_args": args, **({"loader": loader, "prepare": OPEN} if loader else {})}
    restoring = RestoreRequest(archive=request.archive, as_name=name, force=force, say=request.say, options=options)
    _database(run, job, place, storage, name, restoring)


def _same_run_globals(job: JobConfig, storage: Any, run: RunContext, request: DrillRequest, place: Place,
                      sources: list[DumpSource], dbname: str) -> bool:  # fmt: skip
    """The roles of the run that made the dump, into the throwaway server first (a few KB); False when there
    are none (``globals: no``) or they fail (the globals target's own drill says why)."""
    wanted = set()
    for source in sources:
        if source.globals and (dbname in source.target or "all" in source.target):
            wanted.add(source_prefix(job, source, Server.from_config(source.connect)) + GLOBALS)
    made = request.archive.made
    for remote in storage.list():
        backup = own_backup(remote, storage.root, ("sql", "sql.gz", "sql.zst", "sql.age", "sql.gz.age",
                                                   "sql.zst.age"))
        if backup is None or backup.target not in wanted or backup.made != made:
            continue
        try:
            _globals(run, job, place, storage, backup.path, RestoreRequest(archive=backup, say=request.say,
                                                                           options=_THROWAWAY))
        except RestoreError as exc:
            request.say(f"the roles did not restore ({exc}): the dump is restored without its owners and grants")
            return False
        return True
    request.say("no globals archive from the same run: the dump is restored without its owners and grants")
    return False


def _compare_database(run: RunContext, place: Place, env: dict[str, str], name: str, request: DrillRequest,
                      check_env: dict[str, str]) -> DrillReport:  # fmt: skip
    psql = locate("psql")["psql"]
    _query(run, place, env, name, "ANALYZE")  # fresh reltuples for every table
    try:
        found = query(run, psql, place.server, {**env, "PGOPTIONS": _CATALOG_SEARCH}, name,
                      DATABASE_QUERY.format(budget=COUNT_BUDGET))
    except FactsError as exc:
        raise RestoreError(f"cannot count the restored tables: {exc}") from None
    tables: dict[str, Any] = {table: (info or {}).get("rows") for table, info in (found.get("tables") or {}).items()}
    rows = sum(count for count in tables.values() if count is not None)
    restored = (f"{len(tables)} table{'s' if len(tables) != 1 else ''}, {_count(rows)} rows, "
                f"{human_size(int(found.get('bytes') or 0))}")
    problems: list[str] = []
    recorded = request.facts.get("tables")
    if request.facts and not isinstance(recorded, dict):
        restored += "; the table statistics were not recorded at dump time"
    elif isinstance(recorded, dict):
        expected = {table: None if table in tables and tables[table] is None else (info or {}).get("rows")
                    for table, info in recorded.items()}  # a count that did not come back is not compared
        problems += compare_counts("table", expected, tables, request.tolerance)
    passed, failed = _checks(run, place, env, [name], request, check_env or _env_of(place, name))
    return DrillReport(restored=restored, problems=problems + failed, checks=passed)


def _env_of(place: Place, name: str) -> dict[str, str]:
    server = place.server
    found = {"PGHOST": server.host, "PGPORT": str(server.port) if server.port else None, "PGUSER": server.user,
             "PGDATABASE": name}
    return {key: value for key, value in found.items() if value}


def _sql_check(run: RunContext, place: Place, env: dict[str, str], databases: list[str],
               check: DrillCheck) -> str | None:  # fmt: skip
    """None when ``check.sql`` returns a row in one of ``databases``, else its one-line failure."""
    assert check.sql is not None
    failures = []
    for dbname in databases:
        done = _psql(run, place.server, env, dbname, check.sql)
        if done.returncode == 0 and done.stdout:
            return None
        said = [" ".join(line.split()) for line in done.stderr.decode(errors="replace").splitlines()]
        refusal = next((line for line in said if "ERROR:" in line), None)  # not psql's ^ marker
        failures.append((refusal or first_error(done.stderr, "no message")) if done.returncode else "returned no row")
    where = f" in database `{databases[0]}`" if len(databases) == 1 else f" in any of {len(databases)} databases"
    return f"check `{check.sql}` failed{where}: {failures[-1]}"


def _drill_globals(job: JobConfig, storage: Any, run: RunContext, request: DrillRequest) -> DrillReport:
    """The roles and tablespaces run with psql in a throwaway server (never in a ``drill: server``: they would
    change its roles); every role must be created."""
    path = request.archive.path
    extension = path.rsplit("/", 1)[-1].split(".", 1)[-1]
    if request.server is not None:
        sql = _stream(run, storage, path, extension, ["cat"], {})
        roles = len(_CREATE_ROLE.findall(sql))
        return DrillReport(restored=f"{roles} role(s) read back; not run (`drill: server` is not a throwaway "
                                    "server)", compared=False)  # fmt: skip
    folder = prepare(request.scratch)
    bin_dir = server_bin_dir()
    data = initdb(run, bin_dir, folder, ADMIN)
    said: list[str] = []

    def say(line: str) -> None:
        said.append(line)
        request.say(line)

    with serve(run, bin_dir, folder, data, [ADMIN], request.say) as pg:
        place = Place(pg.server(), "the throwaway server", None)
        _globals(run, job, place, storage, path, RestoreRequest(archive=request.archive, say=say,
                                                                options=_THROWAWAY))
        with _client(place, job) as env:
            count = _query(run, place, env, MAINTENANCE, "SELECT count(*) FROM pg_roles WHERE rolname !~ '^pg_' "
                           "AND oid <> 10")  # not corral's own superuser
            confine(run, place, env)
            loader = replace(pg, user=LOADER)
            place = Place(loader.server(), "the throwaway server", None)
            passed, problems = _checks(run, place, env, [MAINTENANCE], request, loader.env(MAINTENANCE))
    summary = next((line.split(": ", 1)[1] for line in said if line.startswith("restored globals ")), "")
    restored = f"{summary.split(' on ', 1)[-1] if summary else 'globals run'}; {count} role(s) in the server"
    return DrillReport(restored=restored, problems=problems, checks=passed, compared=False)


def _checks(run: RunContext, place: Place, env: dict[str, str], databases: list[str], request: DrillRequest,
            check_env: dict[str, str]) -> tuple[int, list[str]]:  # fmt: skip
    """``sql`` checks in ``databases`` (a row in one of them passes); ``command`` checks in the scratch folder
    with the server in PGHOST, PGPORT, PGUSER, PGDATABASE (no password anywhere)."""
    passed, problems = 0, []
    for check in request.checks:
        failure = _sql_check(run, place, env, databases, check) if check.sql is not None else \
            command_check(run, check, request.scratch, check_env)
        if failure:
            problems.append(failure)
        else:
            passed += 1
    return passed, problems


def drill_hot(job: JobConfig, storage: Any, run: RunContext, request: DrillRequest) -> DrillReport:
    folder = prepare(request.scratch)
    data = folder / "data"
    data.mkdir(mode=0o700)
    restore_hot(storage, run, RestoreRequest(archive=request.archive, to=data, say=request.say))
    defuse(data, request.say)
    major = (data / "PG_VERSION").read_text().strip()
    bin_dir = server_bin_dir(major)
    users = ["postgres", *[s.connect.db_user for s in job.sources if isinstance(s, HotSource) and s.connect.db_user]]
    with serve(run, bin_dir, folder, data, list(dict.fromkeys(users)), request.say, options=NO_PRELOAD) as pg:
        place = Place(pg.server(), "the restored server", None)
        with _client(place, job) as env:
            env["PGOPTIONS"] = NO_PRELOAD  # the backup's ALTER ROLE ... SET applies to no login of ours
            try:
                found = query(run, locate("psql")["psql"], place.server, {**env, "PGOPTIONS": CATALOG_ONLY},
                              MAINTENANCE, CLUSTER_QUERY)
            except FactsError as exc:
                raise RestoreError(f"cannot list the restored databases: {exc}") from None
            sizes = {name: (info or {}).get("bytes") for name, info in (found.get("databases") or {}).items()}
            databases = sorted(sizes, key=lambda name: (name != MAINTENANCE, name))
            passed, problems = _checks(run, place, env, databases, request, pg.env(MAINTENANCE))
    total = sum(size or 0 for size in sizes.values())
    restored = f"{len(sizes)} database{'s' if len(sizes) != 1 else ''}, {human_size(total)}, PostgreSQL {major}"
    recorded = request.facts.get("databases")
    if request.facts and not isinstance(recorded, dict):
        restored += "; the database sizes were not recorded at backup time"
    elif isinstance(recorded, dict):
        expected = {name: None if name in sizes and sizes[name] is None else (info or {}).get("bytes")
                    for name, info in recorded.items()}
        problems = compare_counts("database", expected, sizes, request.tolerance) + problems
    return DrillReport(restored=restored, problems=problems, checks=passed)


def _count(rows: int) -> str:
    """``950``, ``12.3k``, ``3.4M``: row counts as the drill's line shows them."""
    for limit, unit in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if rows >= limit:
            return f"{rows / limit:.1f}{unit}"
    return str(rows)

