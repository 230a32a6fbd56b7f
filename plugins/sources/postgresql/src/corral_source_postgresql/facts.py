"""What the checksum manifest records of a dump (``Archive.facts``, docs/verify.md): the versions of the server
and of pg_dump, the database's size and each table's row estimate, so a restore drill compares like with like.

Gathered right before the dump with one psql call per database that returns one JSON document. A table's
``rows`` is the planner's ``reltuples``; a table never vacuumed nor analyzed has none (-1 since PostgreSQL 14,
0 with no pages before), so it is counted exactly when it is small (the smallest first, up to
:data:`COUNT_BUDGET` bytes of them per database) and readable by the dump user, else ``null``. A query that
fails leaves fewer facts and a warning, never a failed dump.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from corral import RunContext
from corral_source_postgresql.connection import Server, first_error

COUNT_BUDGET = 64 << 20  # bytes of never-analyzed tables counted with count(*), smallest first
# SET ...; SELECT: psql prints only the last result. A table locked by someone else is not waited for long.
_LIMITS = "SET statement_timeout = '60s'; SET lock_timeout = '5s'; "
DATABASE_QUERY = _LIMITS + """
WITH listed AS (
  SELECT c.oid, n.nspname || '.' || c.relname AS name, c.reltuples, pg_relation_size(c.oid) AS size,
         format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname) AS counting,
         (c.reltuples < 0 OR c.relpages = 0) AND has_table_privilege(c.oid, 'SELECT') AS countable
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'm') AND c.relpersistence <> 't'
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                    AND d.deptype = 'e')
), budgeted AS (
  SELECT *, sum(CASE WHEN countable THEN size ELSE 0 END) OVER (ORDER BY countable DESC, size, oid) AS spent
  FROM listed
)
SELECT json_build_object(
  'server', current_setting('server_version'),
  'bytes', pg_database_size(current_database()),
  'tables', coalesce((SELECT json_object_agg(name, json_build_object('rows', CASE
      WHEN countable AND spent <= {budget}
        THEN (xpath('/row/n/text()', query_to_xml(counting, false, true, '')))[1]::text::bigint
      WHEN reltuples >= 0 AND NOT countable THEN round(reltuples)::bigint END)) FROM budgeted), '{{}}'))
"""  # {budget}: COUNT_BUDGET
# postgresql_hot: every database of the cluster, as pg_basebackup copies them all
# (schema-qualified: a restored cluster's search_path or functions must not change the answer)
CLUSTER_QUERY = _LIMITS + """
SELECT pg_catalog.json_build_object(
  'server', pg_catalog.current_setting('server_version'),
  'databases', coalesce((SELECT pg_catalog.json_object_agg(datname, pg_catalog.json_build_object('bytes', CASE
      WHEN pg_catalog.has_database_privilege(oid, 'CONNECT') THEN pg_catalog.pg_database_size(oid) END))
    FROM pg_catalog.pg_database WHERE datallowconn), '{}'))
"""
_VERSIONS: dict[str, str] = {}  # program -> its --version, asked once per run


class FactsError(Exception):
    """The statistics query failed; the message is psql's one-line error."""


def tool_version(run: RunContext, program: str) -> str | None:
    """``pg_dump --version`` (``pg_dump (PostgreSQL) 15.6``), asked once per run."""
    if program not in _VERSIONS:
        try:
            done = run.run([program, "--version"], stdin=subprocess.DEVNULL)
        except OSError:
            return None
        lines = (done.stdout or done.stderr).decode(errors="replace").strip().splitlines()
        _VERSIONS[program] = lines[0].strip() if done.returncode == 0 and lines else ""
    return _VERSIONS[program] or None


def query(run: RunContext, psql: str, server: Server, env: dict[str, str], dbname: str, sql: str) -> dict[str, Any]:
    """The JSON document ``sql`` returns in ``dbname``."""
    command = [psql, "-X", "-w", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", server.conninfo(dbname), "-c", sql]
    done = run.run(command, env={**env, "PGCLIENTENCODING": "UTF8"}, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").splitlines()
        refusal = next((" ".join(line.split()) for line in lines if "ERROR:" in line), None)  # not psql's ^ marker
        raise FactsError(refusal or first_error(done.stderr, f"psql exited with code {done.returncode}"))
    try:
        result = json.loads(done.stdout.decode("utf-8", errors="replace"))
    except ValueError:
        raise FactsError("psql's answer is not JSON") from None
    if not isinstance(result, dict):
        raise FactsError("psql's answer is not a JSON object")
    return result


def database_facts(run: RunContext, psql: str, pg_dump: str, server: Server, env: dict[str, str],
                   dbname: str) -> tuple[dict[str, Any], tuple[str, ...]]:  # fmt: skip
    """``{"server", "tool", "database", "bytes", "tables": {"schema.table": {"rows"}}}`` and a warning when the
    query failed (then only the tool and the database are known)."""
    facts: dict[str, Any] = {"server": None, "tool": tool_version(run, pg_dump), "database": dbname}
    try:
        answer = query(run, psql, server, env, dbname, DATABASE_QUERY.format(budget=COUNT_BUDGET))
    except FactsError as exc:
        return facts, (f"facts: cannot read the table statistics: {exc}",)
    facts.update(server=answer.get("server"), bytes=answer.get("bytes"),
                 tables=dict(sorted((answer.get("tables") or {}).items())))
    return facts, ()


def cluster_facts(run: RunContext, psql: str | None, tool: str, server: Server,
                  env: dict[str, str]) -> tuple[dict[str, Any], tuple[str, ...]]:  # fmt: skip
    """``postgresql_hot``: ``{"server", "tool", "databases": {name: {"bytes"}}}``; a warning when psql is missing
    or the user cannot log into a database (a replication-only user)."""
    facts: dict[str, Any] = {"server": None, "tool": tool_version(run, tool)}
    if psql is None:
        return facts, ("facts: `psql` is not installed (apt install postgresql-client)",)
    error = ""
    for dbname in ("postgres", "template1"):
        try:
            answer = query(run, psql, server, env, dbname, CLUSTER_QUERY)
        except FactsError as exc:
            error = str(exc)
            continue
        facts.update(server=answer.get("server"), databases=dict(sorted((answer.get("databases") or {}).items())))
        return facts, ()
    return facts, (f"facts: cannot read the database sizes: {error}",)
