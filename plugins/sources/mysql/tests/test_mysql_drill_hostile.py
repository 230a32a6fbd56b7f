"""Archives altered on the storage, manifest fixed up as their writer would: a drill or a restore runs none of
their code as root. A dump loads into the throwaway server as an account with rights on its one database only
(no ``SET GLOBAL``: no general log aimed at root's files) and that server runs as ``mysql``; a physical backup
whose ``backup-my.cnf`` asks ``mariabackup --prepare`` to load a library from the archive is refused."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest
from mysql_testkit import CORRAL, drill_tmp, drop, execute, local_storage, write_config
from test_mysql_restore_hostile import fix_manifest

from corral_testservers import MariaDB
from corral_testservers.workdirs import instance_dir

NOW = "2026-01-31T03:00:00"


def corral(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CORRAL), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "CORRAL_NOW": NOW})


def _connect(server: MariaDB) -> dict[str, object]:
    return {"db_host": "127.0.0.1", "db_port": server.port, "db_user": server.user, "db_password": server.password}


def _dump_job(server: MariaDB, tmp_path: Path, job: str, database: str, checks: list[dict[str, str]],
              *statements: str) -> Path:  # fmt: skip
    """A `mysql` job of ``database`` (made anew: a table `t` and ``statements``) with the drill's ``checks``."""
    drop(server, database)
    execute(server, f"CREATE DATABASE {database}", f"CREATE TABLE {database}.t (id INT PRIMARY KEY)", *statements)
    return write_config(tmp_path, [{"job": job, "type": "mysql", "sources": [{
        "connect": _connect(server), "target": [database], "compression": "none"}],
        "storages": [local_storage(tmp_path / "b")], "drill": {"checks": checks}}])  # fmt: skip


def test_no_general_log_aimed_at_a_file(mariadb_server: MariaDB, corral_servers_root: Path) -> None:
    """`SET GLOBAL general_log_file` appended attacker text to any file as root; the view, trigger and routine
    with their production DEFINER still load, and the checks see them."""
    tmp_path = instance_dir(corral_servers_root, "dh")
    drill_tmp(tmp_path, "gl")
    victim = tmp_path / "victim" / "authorized_keys"
    victim.parent.mkdir(mode=0o700)
    victim.write_text("ssh-ed25519 AAAA genuine@laptop\n")
    owner = tmp_path / "owner.txt"
    checks = [{"sql": "SELECT 1 FROM rich WHERE id = 1"}, {"sql": "SELECT 1 FROM t WHERE twice(id) = 2"},
              {"command": f"stat -c %U \"$(mariadb -N -e 'SELECT @@datadir')\" > {owner}"}]
    config = _dump_job(mariadb_server, tmp_path, "gl", "dh_shop", checks, "INSERT INTO dh_shop.t VALUES (1), (2)",
                       "CREATE VIEW dh_shop.rich AS SELECT id FROM dh_shop.t",
                       "CREATE FUNCTION dh_shop.twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
                       "CREATE TRIGGER dh_shop.keep BEFORE INSERT ON dh_shop.t FOR EACH ROW SET NEW.id = NEW.id")
    try:
        assert corral("start", "-c", str(config)).returncode == 0
        done = corral("drill", "gl", "-c", str(config))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "3 check(s) passed" in done.stdout, done.stdout
        if os.geteuid() == 0:
            assert owner.read_text().strip() == "mysql", "the throwaway server runs as mysql"
        [archive] = (tmp_path / "b" / "gl").rglob("dh_shop_*.sql")
        with open(archive, "ab") as out:
            out.write(f"SET GLOBAL general_log_file = '{victim}';\nSET GLOBAL general_log = 1;\n"
                      "SELECT '\nssh-ed25519 AAAA attacker@evil\n';\nSET GLOBAL general_log = 0;\n".encode())
        fix_manifest(tmp_path / "b" / "gl", archive)
        done = corral("drill", "gl", "-c", str(config))
    finally:
        drop(mariadb_server, "dh_shop")
    assert "attacker@evil" not in victim.read_text(), "the dump wrote into a file outside the drill"
    assert done.returncode == 1 and "Access denied" in done.stdout, done.stdout + done.stderr


def test_a_check_runs_no_function_of_the_archive_with_more_rights(mariadb_server: MariaDB,
                                                                    corral_servers_root: Path) -> None:  # fmt: skip
    """The checks log in as the loader: an `SQL SECURITY INVOKER` function of the dump that a check calls gets no
    more rights than the dump had (as corral's own login it could `SET GLOBAL` anything)."""
    tmp_path = instance_dir(corral_servers_root, "di")
    drill_tmp(tmp_path, "fn")
    seen = tmp_path / "seen.txt"
    checks = [{"sql": "SELECT poke()"},
              {"command": f"mariadb -N -e 'SELECT @@global.max_connections, CURRENT_USER()' > {seen}"}]
    config = _dump_job(mariadb_server, tmp_path, "fn", "di_shop", checks,
                       "CREATE FUNCTION di_shop.poke() RETURNS INT NO SQL SQL SECURITY INVOKER BEGIN "
                       "IF CURRENT_USER() LIKE 'corral_load@%' THEN RETURN 1; END IF; "
                       "SET GLOBAL max_connections = 77; RETURN 1; END")
    try:
        assert corral("start", "-c", str(config)).returncode == 0
        done = corral("drill", "fn", "-c", str(config))
    finally:
        drop(mariadb_server, "di_shop")
    assert done.returncode == 0, done.stdout + done.stderr
    assert seen.read_text().split() == ["20", "corral_load@localhost"]


def _physical_drill(server: MariaDB, tmp_path: Path, database: str,
                    checks: list[dict[str, str]]) -> tuple[str, subprocess.CompletedProcess[str]]:  # fmt: skip
    """A hot backup of the whole instance (``database`` dropped after it), drilled with ``checks``."""
    config = write_config(tmp_path, [{"job": "hot", "type": "mysql_xtradb", "sources": [{
        "connect": _connect(server), "compression": "none"}], "storages": [local_storage(tmp_path / "b")],
        "drill": {"checks": checks}}])  # fmt: skip
    try:
        assert corral("start", "-c", str(config)).returncode == 0
    finally:
        drop(server, database)
    done = corral("drill", "hot", "-c", str(config))
    return done.stdout + done.stderr, done


def test_a_physical_backups_checks_run_no_routine_with_more_rights(mariadb_server: MariaDB,
                                                                   corral_servers_root: Path) -> None:  # fmt: skip
    """A physical backup brings its accounts: a DEFINER function (defined by the production admin) or an INVOKER
    one that a check calls could `SET GLOBAL` as that admin, or as corral's own login. The checks log in as a
    read-only account and every account of the copy keeps reads only: both calls are refused."""
    tmp_path = instance_dir(corral_servers_root, "xd")
    drill_tmp(tmp_path, "hot")
    seen = tmp_path / "seen.txt"
    body = "RETURNS INT NO SQL SQL SECURITY {0} BEGIN SET GLOBAL max_connections = 77; RETURN 1; END"
    drop(mariadb_server, "xd_shop")
    execute(mariadb_server, "CREATE DATABASE xd_shop",
            f"CREATE DEFINER=CURRENT_USER FUNCTION xd_shop.as_definer() {body.format('DEFINER')}",
            f"CREATE FUNCTION xd_shop.as_invoker() {body.format('INVOKER')}")
    checks = [{"sql": "SELECT xd_shop.as_definer()"}, {"sql": "SELECT xd_shop.as_invoker()"},
              {"command": f"mariadb -N -e 'SELECT @@global.max_connections, CURRENT_USER()' > {seen}"}]
    said, done = _physical_drill(mariadb_server, tmp_path, "xd_shop", checks)
    assert seen.exists() and seen.read_text().split() == ["20", "corral_check@localhost"], said
    assert done.returncode == 1 and "FAILED" in said, said
    for name in ("as_definer", "as_invoker"):
        assert f"check `SELECT xd_shop.{name}()` failed: " in said and "denied" in said, said


def _tamper(archive: Path, work: Path, library: Path) -> None:
    """The xbstream unpacked, a library and `plugin_load`/`plugin_dir` lines added to backup-my.cnf, packed."""
    tree = work / "tree"
    tree.mkdir()
    with open(archive, "rb") as source:
        subprocess.run(["mbstream", "-x", "-C", str(tree)], stdin=source, check=True)
    shutil.copy(library, tree / "evil.so")
    with open(tree / "backup-my.cnf", "a") as cnf:
        cnf.write("plugin_load=evil.so\nplugin_dir=.\n")
    files = sorted(str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file())
    with open(archive, "wb") as out:
        subprocess.run(["mbstream", "-c", *files], cwd=tree, stdout=out, check=True)


def test_no_library_from_backup_my_cnf(mariadb_server: MariaDB, corral_servers_root: Path) -> None:
    """backup-my.cnf's `plugin_load` made `mariabackup --prepare` (drill and restore --to) run the archive's code."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc builds the library")
    tmp_path = instance_dir(corral_servers_root, "xh")
    drill_tmp(tmp_path, "hot")
    ran = tmp_path / "ran.txt"
    source = tmp_path / "evil.c"
    source.write_text('#include <stdio.h>\n__attribute__((constructor)) static void run(void) {\n'
                      f'  FILE *f = fopen("{ran}", "a"); if (f) {{ fputs("ran\\n", f); fclose(f); }}\n}}\n')
    library = tmp_path / "evil.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    config = write_config(tmp_path, [{"job": "hot", "type": "mysql_xtradb", "sources": [{
        "connect": _connect(mariadb_server), "compression": "none"}], "storages": [local_storage(tmp_path / "b")]}])
    assert corral("start", "-c", str(config)).returncode == 0
    [archive] = (p for p in (tmp_path / "b" / "hot").rglob("*.xbstream") if p.is_file())
    _tamper(archive, tmp_path, library)
    fix_manifest(tmp_path / "b" / "hot", archive)
    drilled = corral("drill", "hot", "-c", str(config))
    restored = corral("restore", "hot", "--target", archive.parent.name, "--to", str(tmp_path / "out"),
                      "-c", str(config))
    assert not ran.exists(), "mariabackup --prepare ran a library from the archive"
    for done, code in ((drilled, 1), (restored, 2)):
        assert done.returncode == code and "backup-my.cnf" in done.stdout + done.stderr, done.stdout + done.stderr
        assert "`plugin_load`" in done.stdout + done.stderr, done.stdout + done.stderr


def _add_files(archive: Path, work: Path, files: dict[str, str]) -> None:
    """The xbstream unpacked, ``files`` (path in the data directory: text) added, packed again."""
    tree = work / "tree"
    tree.mkdir()
    with open(archive, "rb") as source:
        subprocess.run(["mbstream", "-x", "-C", str(tree)], stdin=source, check=True)
    for name, text in files.items():
        (tree / name).write_text(text)
    names = sorted(str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file())
    with open(archive, "wb") as out:
        subprocess.run(["mbstream", "-c", *names], cwd=tree, stdout=out, check=True)


_TRIGGER = ("TYPE=TRIGGERS\ntriggers='CREATE DEFINER=`root`@`localhost` TRIGGER mysql.corral_evil BEFORE UPDATE ON "
            "mysql.global_priv FOR EACH ROW SET GLOBAL max_connections = 77'\nsql_modes=1411383296\n"
            "definers='root@localhost'\nclient_cs_names='utf8mb3'\nconnection_cl_names='utf8mb3_general_ci'\n"
            "db_cl_names='latin1_swedish_ci'\ncreated=1796280511129356\n")


def test_no_trigger_of_the_archive_fires_while_its_accounts_are_demoted(mariadb_server: MariaDB,
                                                                       corral_servers_root: Path) -> None:  # fmt: skip
    """A trigger on `mysql.global_priv` (MariaDB creates none on its system tables, but a backup's files can
    hold one) fired inside the demotion's UPDATE, as its DEFINER with the rights the grant tables still gave:
    `SET GLOBAL` as root. The drill refuses a system table with a trigger before writing to it."""
    tmp_path = instance_dir(corral_servers_root, "xt")
    drill_tmp(tmp_path, "hot")
    seen = tmp_path / "seen.txt"
    checks = [{"command": f"mariadb -N -e 'SELECT @@global.max_connections' > {seen}"}]
    config = write_config(tmp_path, [{"job": "hot", "type": "mysql_xtradb", "sources": [{
        "connect": _connect(mariadb_server), "compression": "none"}], "storages": [local_storage(tmp_path / "b")],
        "drill": {"checks": checks}}])  # fmt: skip
    assert corral("start", "-c", str(config)).returncode == 0
    [archive] = (p for p in (tmp_path / "b" / "hot").rglob("*.xbstream") if p.is_file())
    _add_files(archive, tmp_path, {"mysql/global_priv.TRG": _TRIGGER,
                                   "mysql/corral_evil.TRN": "TYPE=TRIGGERNAME\ntrigger_table=global_priv\n"})
    fix_manifest(tmp_path / "b" / "hot", archive)
    done = corral("drill", "hot", "-c", str(config))
    said = done.stdout + done.stderr
    assert not seen.exists() or seen.read_text().split() != ["77"], "the archive's trigger ran SET GLOBAL: " + said
    assert done.returncode == 1 and "corral_evil" in said and "trigger" in said, said


def test_no_plugin_the_archive_lists_is_loaded(mariadb_server: MariaDB, corral_servers_root: Path) -> None:
    """The throwaway server loaded every plugin of the backup's `mysql.plugin` (and UDF of `mysql.func`): FEDERATED
    connects out as the `mysql` user, which MariaDB's own `mysql@localhost` lets in by unix_socket as a superuser
    of the production server. Its plugin folder is empty: the drill still counts every table."""
    tmp_path = instance_dir(corral_servers_root, "xp")
    drill_tmp(tmp_path, "hot")
    seen = tmp_path / "seen.txt"
    checks = [{"command": "mariadb -N -e \"SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = "
                          f"'FEDERATED' AND PLUGIN_STATUS = 'ACTIVE'\" > {seen}"}]
    config = write_config(tmp_path, [{"job": "hot", "type": "mysql_xtradb", "sources": [{
        "connect": _connect(mariadb_server), "compression": "none"}], "storages": [local_storage(tmp_path / "b")],
        "drill": {"checks": checks}}])  # fmt: skip
    execute(mariadb_server, "INSTALL SONAME 'ha_federatedx'")
    try:
        assert corral("start", "-c", str(config)).returncode == 0
    finally:
        execute(mariadb_server, "UNINSTALL SONAME 'ha_federatedx'")
    done = corral("drill", "hot", "-c", str(config))
    said = done.stdout + done.stderr
    assert seen.read_text().split() == ["0"], "the archive's plugin was loaded: " + said
    assert done.returncode == 0 and "1 check(s) passed" in said, said


def test_no_routine_of_the_archive_runs_as_corrals_own_login(mariadb_server: MariaDB,
                                                              corral_servers_root: Path) -> None:  # fmt: skip
    """corral's own login in the throwaway server was `USER@localhost` (USER: who runs corral, root as a rule),
    kept with all rights by the demotion: a function of the backup `DEFINER=root@localhost`, the most common
    production definer, that a check called ran as it and could `SET GLOBAL`. That login's name is random now."""
    tmp_path = instance_dir(corral_servers_root, "xr")
    drill_tmp(tmp_path, "hot")
    seen = tmp_path / "seen.txt"
    me = pwd.getpwuid(os.geteuid()).pw_name
    drop(mariadb_server, "xr_shop")
    execute(mariadb_server, "CREATE DATABASE xr_shop",
            f"CREATE DEFINER='{me}'@'localhost' FUNCTION xr_shop.poke() RETURNS INT NO SQL SQL SECURITY DEFINER "
            "BEGIN SET GLOBAL max_connections = 77; RETURN 1; END")
    checks = [{"sql": "SELECT xr_shop.poke()"},
              {"command": f"mariadb -N -e 'SELECT @@global.max_connections' > {seen}"}]
    said, done = _physical_drill(mariadb_server, tmp_path, "xr_shop", checks)
    assert seen.read_text().split() == ["20"], "the archive's function ran as corral's own login: " + said
    assert done.returncode == 1 and "check `SELECT xr_shop.poke()` failed: " in said, said


def test_no_tablespace_outside_the_copy_is_opened(mariadb_server: MariaDB, corral_servers_root: Path) -> None:
    """An InnoDB link file (`db/t.isl`: where a `DATA DIRECTORY` table's `.ibd` is) of the archive made the
    throwaway server open that path read-write as `mysql`, for any table: the production server's live
    `/var/lib/mysql/shop/t.ibd`, where purging the backup's undo log writes. A drill drops the link files before
    `--prepare`: a `DATA DIRECTORY` table is read from the copy's own folder."""
    tmp_path = instance_dir(corral_servers_root, "xl")
    drill_tmp(tmp_path, "hot")
    seen, victim = tmp_path / "seen.txt", tmp_path / "victim" / "gtid_slave_pos.ibd"
    victim.parent.mkdir(mode=0o755)
    remote = tmp_path / "remote"
    remote.mkdir(mode=0o777)
    drop(mariadb_server, "xl_shop")
    execute(mariadb_server, "CREATE DATABASE xl_shop",
            f"CREATE TABLE xl_shop.far (id INT PRIMARY KEY) DATA DIRECTORY = '{remote}'",
            "INSERT INTO xl_shop.far VALUES (1), (2), (3)")
    checks = [{"sql": "SELECT 1 FROM xl_shop.far HAVING COUNT(*) = 3"},
              {"command": f"ls -l /proc/$(cat \"$(mariadb -N -e 'SELECT @@pid_file')\")/fd > {seen}"}]
    config = write_config(tmp_path, [{"job": "hot", "type": "mysql_xtradb", "sources": [{
        "connect": _connect(mariadb_server), "compression": "none"}], "storages": [local_storage(tmp_path / "b")],
        "drill": {"checks": checks}}])  # fmt: skip
    try:
        assert corral("start", "-c", str(config)).returncode == 0
        execute(mariadb_server, "FLUSH TABLES xl_shop.far FOR EXPORT", "UNLOCK TABLES")  # its header on disk
    finally:
        drop(mariadb_server, "xl_shop")
    [archive] = (p for p in (tmp_path / "b" / "hot").rglob("*.xbstream") if p.is_file())
    tree = tmp_path / "tree"
    tree.mkdir()
    with open(archive, "rb") as source:
        subprocess.run(["mbstream", "-x", "-C", str(tree)], stdin=source, check=True)
    shutil.copy(tree / "mysql" / "gtid_slave_pos.ibd", victim)  # a tablespace of the server, made long ago
    if os.geteuid() == 0:
        shutil.chown(victim, "mysql", "mysql")
    (tree / "mysql" / "gtid_slave_pos.ibd").unlink()
    (tree / "mysql" / "gtid_slave_pos.isl").write_text(str(victim))
    names = sorted(str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file())
    with open(archive, "wb") as out:
        subprocess.run(["mbstream", "-c", *names], cwd=tree, stdout=out, check=True)
    fix_manifest(tmp_path / "b" / "hot", archive)
    done = corral("drill", "hot", "-c", str(config))
    said = done.stdout + done.stderr
    assert seen.exists() and str(victim) not in seen.read_text(), "the archive's link file was followed: " + said
    assert str(remote) not in seen.read_text(), "the DATA DIRECTORY table was opened where the source keeps it"
    assert done.returncode == 0 and "2 check(s) passed" in said, said


def test_no_rename_out_of_the_backup(mariadb_server: MariaDB, corral_servers_root: Path) -> None:
    """`db/t.ren` (a table renamed while the backup ran: `--prepare` renames `db/t.ibd` to what it names, plus
    `.ibd`) is followed as it says: `../../...` moved a file of the archive anywhere on the filesystem, replacing
    what was there (as root with `restore --to`: `/etc/apt/apt.conf.d/99x.ibd` is read by apt). A `.ren` that names
    anything but `db/table` is refused before `--prepare`, by the drill and the restore."""
    tmp_path = instance_dir(corral_servers_root, "xn")
    drill_tmp(tmp_path, "hot")
    escaped = tmp_path / "escaped"
    config = write_config(tmp_path, [{"job": "hot", "type": "mysql_xtradb", "sources": [{
        "connect": _connect(mariadb_server), "compression": "none"}], "storages": [local_storage(tmp_path / "b")]}])
    assert corral("start", "-c", str(config)).returncode == 0
    [archive] = (p for p in (tmp_path / "b" / "hot").rglob("*.xbstream") if p.is_file())
    _add_files(archive, tmp_path, {"mysql/gtid_slave_pos.ren": "../" * 40 + str(escaped).lstrip("/")})
    fix_manifest(tmp_path / "b" / "hot", archive)
    out = tmp_path / "out"
    drilled = corral("drill", "hot", "-c", str(config))
    restored = corral("restore", "hot", "--target", archive.parent.name, "--to", str(out), "-c", str(config))
    assert not Path(f"{escaped}.ibd").exists(), "mariabackup --prepare moved a file out of the backup"
    for done, code in ((drilled, 1), (restored, 2)):
        said = done.stdout + done.stderr
        assert done.returncode == code and "mysql/gtid_slave_pos.ren" in said, said
    assert (out / "mysql" / "gtid_slave_pos.ren").exists(), "refused before --prepare"
