"""A base backup altered on the storage gets neither a shell nor a file outside the scratch folder from ``corral
drill``: the throwaway server reads corral's configuration, not the backup's ``postgresql.conf`` or
``postgresql.auto.conf`` (nor what they include), recovers from the WAL in the archive without a
``restore_command``, and listens on no TCP port; a symbolic link in the data directory other than a tablespace
corral unpacked, a ``pg_wal`` that is a link, or a device node is refused before the server starts. The archive
is altered as an attacker would: ``base.tar`` rewritten inside it, the manifest entry's size and checksum fixed
up (test_drill_tampered's helpers)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from corral_testservers import Postgres

_spec = importlib.util.spec_from_file_location("pg_test_drill_tampered",
                                               Path(__file__).with_name("test_drill_tampered.py"))
assert _spec is not None and _spec.loader is not None
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)  # its helpers and test_drill's (pytest's importlib mode puts no tests on sys.path)
drill, dump_job, job_tmp, left_under = _helpers.drill, _helpers.dump_job, _helpers.job_tmp, _helpers.left_under
marks_folder, store = _helpers.marks_folder, _helpers.store
_hot_spec = importlib.util.spec_from_file_location("pg_test_hot", Path(__file__).with_name("test_hot.py"))
assert _hot_spec is not None and _hot_spec.loader is not None
_hot = importlib.util.module_from_spec(_hot_spec)
_hot_spec.loader.exec_module(_hot)
hot_data = _hot.hot_data  # a database with a table in an extra tablespace (a fixture)

NO_TCP = ('! grep -Eq "^ *[0-9]+: [0-9A-F]+:$(printf %04X "$PGPORT") [0-9A-F]+:0000 0A " /proc/net/tcp '
          "/proc/net/tcp6")  # no listening socket on the server's port, on any address


def rebuilt(archive: Path, files: dict[str, bytes] | None = None, extra: tuple[tarfile.TarInfo, ...] = (),
            drop: str | None = None) -> bytes:  # fmt: skip
    """The stored base backup with ``base.tar.zst`` rewritten: ``files`` replaced or added, the entries under
    ``drop`` left out, ``extra`` members (links, device nodes) added; the other members as they were."""
    files = files or {}
    outer_out = io.BytesIO()
    with tarfile.open(archive, "r:") as outer, tarfile.open(fileobj=outer_out, mode="w:", format=tarfile.GNU_FORMAT) \
            as packed:
        for member in outer.getmembers():
            reader = outer.extractfile(member)
            assert reader is not None
            data = reader.read()
            if member.name == "base.tar.zst":
                plain = subprocess.run(["zstd", "-dc"], input=data, capture_output=True, check=True).stdout
                base_out = io.BytesIO()
                with tarfile.open(fileobj=io.BytesIO(plain), mode="r:") as base, \
                        tarfile.open(fileobj=base_out, mode="w:", format=tarfile.GNU_FORMAT) as new:
                    for entry in base.getmembers():
                        name = entry.name.removeprefix("./")  # pg_basebackup writes ./pg_wal/archive_status
                        if name in files or (drop and (name == drop or name.startswith(drop + "/"))):
                            continue
                        new.addfile(entry, base.extractfile(entry) if entry.isfile() else None)
                    for name, content in files.items():
                        info = tarfile.TarInfo(name)
                        info.size, info.mode = len(content), 0o600
                        new.addfile(info, io.BytesIO(content))
                    for info in extra:
                        new.addfile(info)
                data = subprocess.run(["zstd", "-c", "-q"], input=base_out.getvalue(), capture_output=True,
                                      check=True).stdout
            member.size = len(data)
            packed.addfile(member, io.BytesIO(data))
    return outer_out.getvalue()


def hot_job(pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path, tmp_dir: Path, checks: str) -> Path:
    """A backed-up ``postgresql_hot`` job; its stored archive."""
    done = corral.start(dump_job(tmp_path / "b", tmp_dir, tools.connect_yaml(pg) + "    compression: zstd\n",
                                 checks, job_type="postgresql_hot"))
    assert done.code == 0, done.stderr + done.log
    [archive] = [path for name, path in corral.stored(tmp_path / "b").items() if "basebackup_" in name]
    return archive


def test_a_tampered_base_backups_settings_are_not_used(
    pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path, server_tmp_path: Path
) -> None:
    tmp_dir = job_tmp(server_tmp_path)
    marks = marks_folder(server_tmp_path)
    checks = ("  drill:\n    checks:\n"
              "      - sql: SELECT 1 WHERE current_setting('listen_addresses') = '' AND "
              "current_setting('shared_preload_libraries') = '' AND current_setting('restore_command') = ''\n"
              f"      - command: {json.dumps(NO_TCP)}\n")  # fmt: skip
    archive = hot_job(pg, corral, tools, tmp_path, tmp_dir, checks)
    with tarfile.open(archive, "r:") as outer:
        reader = outer.extractfile("base.tar.zst")
        assert reader is not None
        plain = subprocess.run(["zstd", "-dc"], input=reader.read(), capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(plain), mode="r:") as base:
        conf = base.extractfile("postgresql.conf")
        assert conf is not None
        original_conf = conf.read()
    commands = "".join(f"{name} = 'touch {marks / name}'\n" for name in (
        "restore_command", "archive_command", "recovery_end_command", "archive_cleanup_command"))
    auto = (f"{commands}archive_mode = 'always'\nshared_preload_libraries = 'corral_no_such_library'\n"
            "listen_addresses = '*'\ninclude 'evil.conf'\n").encode()
    evil = f"session_preload_libraries = 'corral_no_such_library'\nlog_directory = '{marks}'\n".encode()
    store(tmp_path / "b", archive, rebuilt(archive, {
        "postgresql.auto.conf": auto, "evil.conf": evil, "recovery.signal": b"",
        "postgresql.conf": original_conf + b"\nlisten_addresses = '*'\nshared_preload_libraries = 'nope'\n"}))
    done = drill(corral, "--verbose")
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert "pg/basebackup: " in said and "passed; 2 check(s) passed" in said, said
    assert os.listdir(marks) == [], said
    assert not left_under(tmp_dir)


def test_a_base_backup_with_a_tablespace_drills_in_its_own_copy(
    pg: Postgres, hot_data: Path, corral: Any, tools: SimpleNamespace, tmp_path: Path, server_tmp_path: Path
) -> None:
    """pg_tblspc's link from base.tar points at the production tablespace: the drill's server uses corral's copy."""
    tmp_dir = job_tmp(server_tmp_path)
    checks = ("  drill:\n    checks:\n      - sql: SELECT 1 FROM elsewhere WHERE note = 'in the extra tablespace'\n"
              "      - sql: SELECT 1 FROM pg_tablespace WHERE spcname = 'corral_space' AND "
              "pg_tablespace_location(oid) LIKE '%/pg/data.tablespaces/%'\n")
    hot_job(pg, corral, tools, tmp_path, tmp_dir, checks)
    before = sorted(path.name for path in hot_data.rglob("*"))
    done = drill(corral)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed; 2 check(s) passed" in done.stdout, done.stdout
    assert sorted(path.name for path in hot_data.rglob("*")) == before
    assert not left_under(tmp_dir)


def _link(name: str, target: Path) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, str(target)
    return info


def _device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor, info.mode = tarfile.CHRTYPE, 1, 3, 0o666  # /dev/null's numbers
    return info


@pytest.mark.parametrize("case", ["postmaster.opts", "pg_tblspc", "pg_wal", "device"])
def test_a_base_backup_that_reaches_out_of_the_scratch_folder_is_refused(
    pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path, server_tmp_path: Path, case: str
) -> None:
    """postgres writes ``postmaster.opts`` at start (a link would send it anywhere), a tablespace link would put
    the server's files anywhere, tar would unpack ``pg_wal.tar`` through a ``pg_wal`` link (as root), and a
    device node chowned to postgres would hand it the disk."""
    tmp_dir = job_tmp(server_tmp_path)
    marks = marks_folder(server_tmp_path)
    archive = hot_job(pg, corral, tools, tmp_path, tmp_dir, "")
    (marks / "wal").mkdir()
    changes: dict[str, Any] = {
        "postmaster.opts": {"extra": (_link("postmaster.opts", marks / "opts"),)},
        "pg_tblspc": {"extra": (_link("pg_tblspc/99999", marks / "wal"),)},
        "pg_wal": {"drop": "pg_wal", "extra": (_link("pg_wal", marks / "wal"),)},
        "device": {"extra": (_device("base/1/99999"),)},
    }[case]
    store(tmp_path / "b", archive, rebuilt(archive, **changes))
    done = drill(corral)
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert "pg/basebackup: FAILED" in said, said
    expected = "is a device node, fifo or socket" if case == "device" else "is a symbolic link"
    assert expected in said, said
    assert sorted(os.listdir(marks)) == ["wal"] and os.listdir(marks / "wal") == [], said
    assert not left_under(tmp_dir)


def test_the_backups_role_settings_load_no_library_and_shadow_no_function(
    pg: Postgres, corral: Any, tools: SimpleNamespace, tmp_path: Path, server_tmp_path: Path
) -> None:
    """The backup's catalog says ``ALTER ROLE postgres SET session_preload_libraries`` (a library in the archive
    would run as the OS user postgres at every drill login) and puts ``public`` before ``pg_catalog`` with a
    ``public.pg_database_size`` that lies: the drill's logins override both, and its sizes are the real ones."""
    tmp_dir = job_tmp(server_tmp_path)
    settings = ["session_preload_libraries = 'corral_probe_lib'", "local_preload_libraries = 'corral_probe_lib'",
                "search_path = public, pg_catalog"]
    shadows = ["CREATE FUNCTION public.pg_database_size(oid) RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint'",
               "CREATE FUNCTION public.pg_database_size(name) RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint'"]
    for statement in shadows:
        tools.psql(pg, "postgres", statement)
    for setting in settings:  # in database postgres only: the backup's facts come from template1 meanwhile
        tools.psql(pg, "template1", f"ALTER ROLE postgres IN DATABASE postgres SET {setting}")
    try:
        hot_job(pg, corral, tools, tmp_path, tmp_dir, "  drill:\n    checks:\n      - sql: SELECT 1\n")
    finally:
        tools.psql(pg, "template1", "ALTER ROLE postgres IN DATABASE postgres RESET ALL")
        for signature in ("oid", "name"):
            tools.psql(pg, "postgres", f"DROP FUNCTION public.pg_database_size({signature})")
    done = drill(corral)
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert "pg/basebackup: " in said and "passed; 1 check(s) passed" in said, said
    assert "corral_probe_lib" not in said, said
    assert not left_under(tmp_dir)
