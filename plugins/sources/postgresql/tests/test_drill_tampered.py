"""A dump altered on the storage (a storage others can write) gets no shell from ``corral drill``: the throwaway
server loads it as the non-superuser ``corral_drill``, the restored roles (the dump's own ``postgres`` included)
are demoted and hold no predefined role that reaches the system, so ``COPY ... TO PROGRAM`` fails whatever role
the dump ``SET ROLE``s to or ``RESET ROLE``s back from. The archive is altered as an attacker would: its
statement rewritten inside the archive, the manifest entry's size and checksum fixed up, so only the loader's
rights stand in the way (a control run shows the same statement creates the file as a superuser)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest

from corral_testservers import Postgres

_spec = importlib.util.spec_from_file_location("pg_test_drill", Path(__file__).with_name("test_drill.py"))
assert _spec is not None and _spec.loader is not None
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)  # the drill tests' helpers (pytest's importlib mode puts no tests on sys.path)
drill, dump_job, job_tmp, left_under = _helpers.drill, _helpers.dump_job, _helpers.job_tmp, _helpers.left_under

DB = "corral_evil"
MARK = b"COMMENT ON TABLE public.t IS 'corral-mark';\n"  # the statement the attacker rewrites
PAYLOADS = [
    "COPY (SELECT 1) TO PROGRAM 'touch {mark}';",
    "RESET ROLE; SET ROLE postgres; COPY (SELECT 1) TO PROGRAM 'touch {mark}';",
    "SET ROLE postgres; GRANT pg_execute_server_program TO corral_drill; RESET ROLE; "
    "COPY (SELECT 1) TO PROGRAM 'touch {mark}';",
    "ALTER ROLE corral_drill SUPERUSER; COPY (SELECT 1) TO PROGRAM 'touch {mark}';",
    "SELECT pg_catalog.pg_read_file('/etc/hostname'); COPY (SELECT 1) TO PROGRAM 'touch {mark}';",
]


@pytest.fixture
def evil_db(pg: Postgres, tools: SimpleNamespace) -> Any:
    with psycopg.connect(**pg.connect_kwargs(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB}")
        conn.execute(f"CREATE DATABASE {DB}")
    with psycopg.connect(**{**pg.connect_kwargs(), "dbname": DB}, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (v text)")
        conn.execute("INSERT INTO t SELECT 'row ' || g FROM generate_series(1, 50) g")
        conn.execute("CREATE TABLE owned (v int)")
        conn.execute(f"ALTER TABLE owned OWNER TO {tools.OWNER}")
        conn.execute(f"GRANT SELECT ON t TO {tools.OWNER}")
        conn.execute("COMMENT ON TABLE t IS 'corral-mark'")
    yield
    with psycopg.connect(**pg.connect_kwargs(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB}")


def marks_folder(server_tmp_path: Path) -> Path:
    """Where the OS user postgres may create a file (a superuser's COPY TO PROGRAM runs as it)."""
    folder = server_tmp_path / "marks"
    folder.mkdir()
    folder.chmod(0o1777)
    return folder


def rewrite(archive: Path, payload: str, custom: bool) -> bytes:
    """The archive with MARK's statement replaced by ``payload``: in a custom-format TOC, with the string's length
    prefix (a sign byte and a 4-byte little-endian int) rewritten too."""
    data = subprocess.run(["zstd", "-dc", str(archive)], capture_output=True, check=True).stdout
    new = payload.encode() + b"\n"
    if custom:
        old = b"\x00" + len(MARK).to_bytes(4, "little") + MARK
        assert data.count(old) == 1, "the custom archive's TOC lost the comment"
        data = data.replace(old, b"\x00" + len(new).to_bytes(4, "little") + new)
    else:
        assert data.count(MARK) == 1, "the plain dump lost the comment"
        data = data.replace(MARK, new)
    return subprocess.run(["zstd", "-c", "-q"], input=data, capture_output=True, check=True).stdout


def globals_with(corral: Any, pg: Postgres, tools: SimpleNamespace, tmp_path: Path, tmp_dir: Path,
                 added: bytes) -> None:  # fmt: skip
    """Back up `corral_blog` with its globals, then put ``added`` before the archive's first CREATE ROLE."""
    done = corral.start(dump_job(tmp_path / "b", tmp_dir, tools.connect_yaml(pg)).replace(
        "target: [corral_shop, corral_blog]", "target: [corral_blog]"))
    assert done.code == 0, done.stderr + done.log
    [archive] = [p for name, p in corral.stored(tmp_path / "b").items() if name.startswith("globals_")]
    sql = subprocess.run(["zstd", "-dc", str(archive)], capture_output=True, check=True).stdout
    assert b"CREATE ROLE " in sql
    tampered = sql.replace(b"CREATE ROLE ", added + b"CREATE ROLE ", 1)
    store(tmp_path / "b", archive, subprocess.run(["zstd", "-c", "-q"], input=tampered, capture_output=True,
                                                  check=True).stdout)


def store(backups: Path, archive: Path, data: bytes) -> None:
    """Write the altered archive and fix up its manifest entry, so the bytes check passes."""
    archive.write_bytes(data)
    [record] = (backups / "pg" / ".manifests").glob("*.json")
    manifest = json.loads(record.read_text())
    [entry] = [e for e in manifest["archives"] if e["path"].endswith(archive.name)]
    entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    record.write_text(json.dumps(manifest))


@pytest.mark.parametrize("fmt", ["custom", "plain"])
def test_a_tampered_dump_gets_no_shell_from_the_drill(
    pg: Postgres, evil_db: Any, corral: Any, tools: SimpleNamespace, tmp_path: Path, server_tmp_path: Path, fmt: str
) -> None:
    tmp_dir = job_tmp(server_tmp_path)
    marks = marks_folder(server_tmp_path)
    control = marks / "control"
    tools.psql(pg, "postgres", f"COPY (SELECT 1) TO PROGRAM 'touch {control}'")
    assert control.exists(), "a superuser's COPY TO PROGRAM creates the file: the marks folder is writable"
    checks = ("  drill:\n    checks:\n"
              "      - sql: SELECT 1 FROM pg_roles WHERE rolname = current_user AND NOT rolsuper\n"
              "      - command: test \"$(psql -X -A -t -c 'SELECT rolsuper FROM pg_roles WHERE rolname = "
              "current_user')\" = f\n")  # fmt: skip
    connect = tools.connect_yaml(pg)
    job = dump_job(tmp_path / "b", tmp_dir, connect, checks).replace(
        "target: [corral_shop, corral_blog]", f"target: [{DB}]")
    if fmt == "plain":
        job = job.replace("    compression: zstd\n", "    compression: zstd\n    format: plain\n")
    done = corral.start(job)
    assert done.code == 0, done.stderr + done.log
    honest = drill(corral, "--target", DB)
    assert honest.returncode == 0, honest.stdout + honest.stderr
    assert "(2 tables, 50 rows, " in honest.stdout and "passed; 2 check(s) passed" in honest.stdout, honest.stdout

    [archive] = [p for name, p in corral.stored(tmp_path / "b").items() if name.startswith(f"{DB}_")]
    original = archive.read_bytes()
    for number, payload in enumerate(PAYLOADS):
        mark = marks / f"ran-{number}"
        store(tmp_path / "b", archive, rewrite(archive, payload.format(mark=mark), fmt == "custom"))
        done = drill(corral, "--target", DB)
        said = done.stdout + done.stderr
        assert not mark.exists(), (payload, said)
        assert done.returncode == 1, (payload, said)
        assert "pg/corral_evil: FAILED" in said and "restore failed: " in said, (payload, said)
        store(tmp_path / "b", archive, original)
    assert not left_under(tmp_dir)
    assert sorted(os.listdir(marks)) == ["control"]


def test_a_tampered_globals_archive_is_not_run(
    pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path, server_tmp_path: Path
) -> None:
    """The globals run as the throwaway's superuser (they create superuser roles): only the statements
    pg_dumpall writes are run, so a COPY TO PROGRAM added to them fails the drill before anything runs."""
    tmp_dir = job_tmp(server_tmp_path)
    marks = marks_folder(server_tmp_path)
    done = corral.start(dump_job(tmp_path / "b", tmp_dir, tools.connect_yaml(pg)).replace(
        "target: [corral_shop, corral_blog]", "target: [corral_blog]"))
    assert done.code == 0, done.stderr + done.log
    [archive] = [p for name, p in corral.stored(tmp_path / "b").items() if name.startswith("globals_")]
    sql = subprocess.run(["zstd", "-dc", str(archive)], capture_output=True, check=True).stdout
    assert b"CREATE ROLE " in sql
    hidden = f"COMMENT ON ROLE postgres IS 'x; y'; /* ; */ COPY (SELECT 1) TO PROGRAM 'touch {marks / 'ran'}';\n"
    tampered = sql.replace(b"CREATE ROLE ", hidden.encode() + b"CREATE ROLE ", 1)
    store(tmp_path / "b", archive, subprocess.run(["zstd", "-c", "-q"], input=tampered, capture_output=True,
                                                  check=True).stdout)
    for target in ("globals", "corral_blog"):
        done = drill(corral, "--target", target, "--verbose")
        said = done.stdout + done.stderr
        assert not (marks / "ran").exists(), said
        if target == "globals":
            assert done.returncode == 1, said
            assert "`COPY (SELECT 1) TO PROGRAM 'touch " in said and "is not a role, membership or tablespace " \
                "statement" in said, said
        else:  # the dump is restored without the roles, as with no globals archive
            assert done.returncode == 0 and "the roles did not restore (globals `" in said, said
    assert not left_under(tmp_dir)
    # a restore into the job's own server (a superuser login) reads them the same way before running any
    command = [str(_helpers.CORRAL), "restore", "pg", "--target", "globals", "-c", str(corral.tmp_path / "corral.conf")]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    said = done.stdout + done.stderr
    assert done.returncode != 0 and "not run on " in said and "is not a role, membership or tablespace " \
        "statement" in said, said
    assert not (marks / "ran").exists(), said


def test_no_library_the_globals_name_is_loaded(
    pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path, server_tmp_path: Path
) -> None:
    """`ALTER ROLE corral_admin SET session_preload_libraries` (a statement of the kinds pg_dumpall writes) made the
    drill's next login as its superuser load any library on the machine into the server, as the OS user postgres
    (and a restore --with-globals the production superuser's): role settings that load libraries are refused."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc builds the library")
    tmp_dir = job_tmp(server_tmp_path)
    marks = marks_folder(server_tmp_path)
    source, ran = marks / "evil.c", marks / "ran"
    source.write_text('#include <stdio.h>\n__attribute__((constructor)) static void run(void) {\n'
                      f'  FILE *f = fopen("{ran}", "a"); if (f) {{ fputs("ran\\n", f); fclose(f); }}\n}}\n')
    library = marks / "evil.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    library.chmod(0o755)
    globals_with(corral, pg, tools, tmp_path, tmp_dir,
                 f"ALTER ROLE corral_admin SET session_preload_libraries TO '{library}';\n".encode())
    done = drill(corral, "--target", "globals")
    said = done.stdout + done.stderr
    assert not (marks / "ran").exists(), "the library named by the globals was loaded: " + said
    assert done.returncode == 1 and "session_preload_libraries" in said, said
    assert not left_under(tmp_dir)


def test_the_drill_makes_no_tablespace_folder(
    pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path, server_tmp_path: Path
) -> None:
    """The drill ran the globals' `CREATE TABLESPACE ... LOCATION` in its throwaway (their errors ignored): as the
    OS user postgres that makes a folder in any folder of that user's, which it chmods 0700 (the machine's
    `/var/run/postgresql`: no local client reaches the production server any more). The drill leaves them out."""
    tmp_dir = job_tmp(server_tmp_path)
    target = server_tmp_path / "socketdir"
    target.mkdir(mode=0o755)
    (target / ".s.PGSQL.5432.lock").write_text("")
    if os.geteuid() == 0:
        shutil.chown(target, "postgres", "postgres")
    target.chmod(0o2775)
    globals_with(corral, pg, tools, tmp_path, tmp_dir, f"CREATE TABLESPACE corral_evil LOCATION '{target}';\n".encode())
    done = drill(corral, "--target", "globals")
    said = done.stdout + done.stderr
    assert sorted(os.listdir(target)) == [".s.PGSQL.5432.lock"], said
    assert target.stat().st_mode & 0o7777 == 0o2775, said
    assert done.returncode == 0, said
    assert not left_under(tmp_dir)


def test_the_globals_reading_splits_as_the_server_does() -> None:
    from corral_source_postgresql.vetted import refused, statements, without_tablespaces

    assert statements("SET client_encoding = 'UTF8';\n-- c; d\nCREATE ROLE \"a;b\";\nCOMMENT ON ROLE x IS "
                      "E'it\\'s; fine';\n") == ["SET client_encoding = 'UTF8'", 'CREATE ROLE "a;b"',
                                                "COMMENT ON ROLE x IS E'it\\'s; fine'"]
    assert refused("CREATE ROLE a;\nALTER ROLE a WITH SUPERUSER LOGIN PASSWORD 'SCRAM-SHA-256$4096:x$y:z';\n"
                   "GRANT a TO b GRANTED BY postgres;\nALTER ROLE a SET search_path TO 'x';\n") is None
    for bad in ("COMMENT ON ROLE a IS 'x'; COPY (SELECT 1) TO PROGRAM 'id';",
                "COMMENT ON ROLE a IS 'it''s /* '; SELECT pg_read_file('/etc/passwd');",
                "CREATE ROLE a; /* /* nested */ ; */ DO $$ BEGIN END $$;",
                "SET standard_conforming_strings = off;",
                "CREATE ROLE a; \\! id\n",
                "CREATE ROLE :evil;",
                "CREATE ROLE a; SELECT 1",
                "COMMENT ON ROLE a IS 'never closed;",
                # a library loaded at every login of the role (as the OS user postgres), or where they are looked for
                "ALTER ROLE corral_admin SET session_preload_libraries TO '/tmp/evil.so';",
                "ALTER ROLE ALL SET \"Session_Preload_Libraries\" = '/tmp/evil';",
                "ALTER USER a IN DATABASE b SET /* c */ local_preload_libraries TO 'x/../../evil';",
                "ALTER ROLE a SET dynamic_library_path TO '/tmp';",
                "ALTER ROLE a SET U&\"session\\005fpreload_libraries\" TO '/tmp/evil.so';",
                "ALTER ROLE a SET session_preload_libraries TO 'auto_explain', '$libdir/../../../../tmp/evil';",
                "ALTER ROLE a SET session_preload_libraries TO 'x'\n'/tmp/evil';",  # one literal: 'x/tmp/evil'
                "ALTER ROLE \"a SET session_preload_libraries TO 'x'\" SET session_preload_libraries TO '/tmp/e';",
                "ALTER ROLE a SET session_preload_libraries TO E'\\x2ftmp\\x2fevil';"):
        assert refused(bad) is not None, bad
    assert without_tablespaces("SET x = 1;\n-- c\nCREATE TABLESPACE t OWNER a LOCATION '/var/run/postgresql';\n"
                               "create  tablespace u LOCATION '/x'; COMMENT ON ROLE a IS 'b;\nc';\n"
                               "ALTER TABLESPACE t OWNER TO a;\n") == \
        "SET x = 1;\nCOMMENT ON ROLE a IS 'b; c';\nALTER TABLESPACE t OWNER TO a;\n"
    assert refused("ALTER ROLE a SET work_mem TO '64MB';\nALTER ROLE \"b&\" IN DATABASE c SET "
                   "statement_timeout TO '5s';\nALTER ROLE app SET session_preload_libraries TO 'auto_explain', "
                   "'pg_stat_statements';\n") is None  # the server's own libraries, as pg_dumpall writes them
