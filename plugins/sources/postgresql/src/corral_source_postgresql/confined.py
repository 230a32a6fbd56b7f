"""A drill's throwaway server loads an archive as a role that cannot reach the operating system.

The archive comes from a storage that others may write: loaded by a superuser, its SQL could run ``COPY ... TO
PROGRAM`` or ``pg_read_file`` as the OS user ``postgres``. The throwaway's bootstrap superuser is
:data:`ADMIN` (initdb ``-U``), so the dump's own ``postgres`` role is an ordinary role that can be demoted. After
the run's globals, :func:`confine` takes from every role but the bootstrap superuser (OID 10) what reaches past
the databases: SUPERUSER, CREATEROLE (before PostgreSQL 16 it grants any non-superuser role, the predefined ones
included), REPLICATION, BYPASSRLS, membership in the bootstrap superuser or a predefined ``pg_*`` role
(``pg_execute_server_program``, ``pg_read_server_files``, ``pg_write_server_files``, ``pg_signal_backend``...),
parameter privileges (``ALTER SYSTEM``, ``SET`` of superuser settings) and role settings. The loader
:data:`LOADER` (LOGIN, nothing else) is then granted every restored role, so the dump's ``ALTER ... OWNER TO``
and ``GRANT`` work; whatever role it ``SET ROLE``s to (or ``RESET ROLE``s back from) has no more right than
itself. It owns the scratch database; everything after the load (ANALYZE, the counts, the checks) runs as it
too, so no superuser ever calls a function or view the archive defined.
"""

from __future__ import annotations

from corral import RestoreError, RunContext
from corral_source_postgresql.restore import MAINTENANCE, Place, _query

ADMIN = "corral_admin"  # the throwaway's bootstrap superuser: corral's own connection, never the archive's
LOADER = "corral_drill"  # what loads the archive and reads it back
# {loader}: a plain identifier, put in by Python (psql puts no variable into a dollar-quoted body)
_CONFINE = """
DO $confine$
DECLARE
  r record;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{loader}') THEN
    EXECUTE pg_catalog.format('CREATE ROLE %I LOGIN', '{loader}');
  END IF;
  FOR r IN SELECT rolname FROM pg_catalog.pg_roles WHERE oid <> 10 AND rolname !~ '^pg_' LOOP
    EXECUTE pg_catalog.format('ALTER ROLE %I NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS', r.rolname);
  END LOOP;
  -- memberships in the superuser and the predefined roles, whoever granted them (REVOKE needs the grantor)
  DELETE FROM pg_catalog.pg_auth_members WHERE roleid = 10
    OR roleid IN (SELECT oid FROM pg_catalog.pg_roles WHERE rolname ~ '^pg_');
  DELETE FROM pg_catalog.pg_db_role_setting;  -- ALTER ROLE ... SET role / session_preload_libraries ...
  IF pg_catalog.to_regclass('pg_catalog.pg_parameter_acl') IS NOT NULL THEN  -- 15+: GRANT ALTER SYSTEM ON ...
    DELETE FROM pg_catalog.pg_parameter_acl;
  END IF;
  FOR r IN SELECT rolname FROM pg_catalog.pg_roles WHERE oid <> 10 AND rolname !~ '^pg_' AND rolname <> '{loader}'
      AND NOT pg_catalog.pg_has_role(rolname, '{loader}', 'MEMBER') LOOP
    EXECUTE pg_catalog.format('GRANT %I TO %I', r.rolname, '{loader}');
  END LOOP;
END
$confine$;
ALTER ROLE {loader} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS LOGIN;
SELECT pg_catalog.count(*) FROM pg_catalog.pg_roles r WHERE r.oid <> 10 AND r.rolname !~ '^pg_'
  AND (r.rolsuper OR r.rolcreaterole OR EXISTS (SELECT FROM pg_catalog.pg_roles s
                                                WHERE (s.oid = 10 OR s.rolname ~ '^pg_')
                                                AND pg_catalog.pg_has_role(r.oid, s.oid, 'MEMBER')));
"""

# run by ADMIN in the new scratch database: the dump's ALTER ... OWNER TO a role that was a superuser where it
# was made (``postgres``) needs that role to have CREATE on the schema (and on the database for a schema); a
# superuser loader skipped that check. CREATE for everyone on the database, ``public`` and every schema the dump
# creates (granted by the loader itself, who owns it then); the dump's own ACLs come after, at the end.
OPEN = """
DO $open$ BEGIN
  EXECUTE pg_catalog.format('GRANT CREATE ON DATABASE %I TO PUBLIC', pg_catalog.current_database());
END $open$;
GRANT CREATE ON SCHEMA public TO PUBLIC;
CREATE FUNCTION public.corral_drill_open_schema() RETURNS event_trigger LANGUAGE plpgsql
  SET search_path = pg_catalog AS $open$
DECLARE
  made record;
BEGIN
  FOR made IN SELECT objid FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE SCHEMA' LOOP
    EXECUTE format('GRANT CREATE ON SCHEMA %s TO PUBLIC', made.objid::regnamespace);
  END LOOP;
END
$open$;
CREATE EVENT TRIGGER corral_drill_open_schema ON ddl_command_end WHEN TAG IN ('CREATE SCHEMA')
  EXECUTE FUNCTION public.corral_drill_open_schema();
"""


def confine(run: RunContext, admin: Place, env: dict[str, str]) -> None:
    """Demote every role of the throwaway server but :data:`ADMIN` and make :data:`LOADER` a member of each (see
    the module); refuses when a role still holds a right that reaches the system."""
    left = _query(run, admin, env, MAINTENANCE, _CONFINE.format(loader=LOADER)).splitlines()[-1:]
    if left != ["0"]:
        raise RestoreError(f"{admin.shown}: {left[0] if left else 'some'} role(s) kept rights that reach the "
                           "system after the drill took them: not loading the archive")
