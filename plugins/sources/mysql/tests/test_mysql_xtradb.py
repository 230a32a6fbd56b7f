"""``mysql_xtradb``: a hot copy taken while rows are inserted, restored with the README's own steps into a fresh
data directory, started, and compared with the original."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from mysql_testkit import (
    connect,
    drop,
    execute,
    load_awkward,
    local_storage,
    manifest_facts,
    run_corral,
    snapshot,
    stored,
    write_config,
)

from corral_testservers import MariaDB
from corral_testservers.ports import HOST, free_port, port_open
from corral_testservers.prerequisites import require_executable
from corral_testservers.processes import running
from corral_testservers.workdirs import instance_dir, socket_path

README = Path(__file__).parents[1] / "README.md"


def restore_steps() -> str:
    """The bash block that follows the `restore-xtradb` marker in the README."""
    match = re.search(r"<!-- restore-xtradb -->\s*```bash\n(.*?)```", README.read_text(), re.DOTALL)
    assert match, "README lost its restore steps"
    return match.group(1)


@contextlib.contextmanager
def started_on(datadir: Path, base: Path) -> Iterator[MariaDB]:
    """mariadbd on a restored data directory (no initialisation: the users come from the backup)."""
    port = free_port()
    sock = socket_path(base, "restored.sock")
    argv = ["mariadbd", "--no-defaults", "--user=root", f"--datadir={datadir}", f"--socket={sock}",
            f"--port={port}", f"--bind-address={HOST}", f"--pid-file={base / 'restored.pid'}",
            "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M", "--skip-name-resolve"]
    with running(argv, what="restored mariadbd", log=base / "restored.log", timeout=90,
                 ready=lambda: port_open(port) and sock.exists()):
        yield MariaDB(HOST, port, "", "", sock, datadir, base / "none.cnf", base / "restored.log")


class Inserter(threading.Thread):
    """Inserts rows one transaction at a time while the backup runs; a consistent copy holds a prefix 1..N."""

    def __init__(self, server: MariaDB) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.stop = threading.Event()
        self.count = 0

    def run(self) -> None:
        conn = connect(self.server, "x1_hot")
        try:
            with conn.cursor() as cur:
                while not self.stop.is_set():
                    cur.execute("INSERT INTO t (v) VALUES (REPEAT('x', 200))")
                    self.count += 1
        finally:
            conn.close()


def test_hot_backup_of_two_instances_restores_with_the_documented_steps(
    mariadb_server: MariaDB, mariadb_server2: MariaDB, corral_servers_root: Path, tmp_path: Path
) -> None:
    for program in ("mariabackup", "mbstream"):
        require_executable(program, apt="mariadb-backup")
    backups = tmp_path / "backups"
    config = write_config(tmp_path, [{
        "job": "hot", "type": "mysql_xtradb",
        "sources": [
            {"connect": {"db_host": "127.0.0.1", "db_port": mariadb_server.port, "db_user": mariadb_server.user,
                         "db_password": mariadb_server.password}, "compression": "zstd"},
            {"connect": {"socket": str(mariadb_server2.socket), "db_user": mariadb_server2.user,
                         "db_password": mariadb_server2.password}, "name": "second", "gzip": True},
        ],
        "storages": [local_storage(backups)],
    }])  # fmt: skip
    inserter = Inserter(mariadb_server)
    try:
        load_awkward(mariadb_server, "x1_shop")
        execute(mariadb_server, "CREATE DATABASE x1_hot",
                "CREATE TABLE x1_hot.t (id INT AUTO_INCREMENT PRIMARY KEY, v TEXT) ENGINE=InnoDB")
        execute(mariadb_server2, "CREATE DATABASE x2_db", "CREATE TABLE x2_db.t (id INT PRIMARY KEY)",
                "INSERT INTO x2_db.t VALUES (1), (2)")
        inserter.start()
        done = run_corral(config, "hot")
        inserter.stop.set()
        inserter.join()
        assert done.returncode == 0, done.stderr
        archives = stored(backups, "hot")
        first = f"xtradb_127.0.0.1_{mariadb_server.port}"
        assert set(archives) == {first, "second"}
        assert archives[first].name.endswith(".xbstream.zst")
        assert archives["second"].name.endswith(".xbstream.gz")
        assert mariadb_server.password not in done.stderr
        facts = manifest_facts(backups, "hot")["second"]
        assert facts["server"] == execute(mariadb_server2, "SELECT VERSION()")[0][0]
        assert facts["tool"].startswith(("mariabackup", "xtrabackup"))
        assert facts["databases"]["x2_db"]["tables"] == 1
        assert "information_schema" not in facts["databases"]

        base = instance_dir(corral_servers_root, "xtradb-restore")
        datadir = base / "data"
        subprocess.run(["bash", "-euo", "pipefail", "-c", restore_steps()], check=True, capture_output=True,
                       env={**os.environ, "ARCHIVE": str(archives[first]), "RESTORE": str(base / "restore"),
                            "DATADIR": str(datadir)}, timeout=300)  # fmt: skip
        original = snapshot(mariadb_server, "x1_shop")
        with started_on(datadir, base) as restored:
            restored = MariaDB(restored.host, restored.port, mariadb_server.user, mariadb_server.password,
                               restored.socket, datadir, restored.defaults_file, restored.log)
            assert snapshot(restored, "x1_shop") == original
            ids = [row[0] for row in execute(restored, "SELECT id FROM x1_hot.t ORDER BY id")]
            assert ids == list(range(1, len(ids) + 1)), "a consistent copy holds a gap-free prefix"
            assert 0 < len(ids) <= inserter.count
            assert execute(restored, "SELECT double_it(4)", database="x1_shop") == [(8,)]

        # the gzip stream of the second instance unpacks and prepares the same way
        second = tmp_path / "second"
        second.mkdir()
        subprocess.run(f"gzip -dc '{archives['second']}' | mbstream -x -C '{second}'", shell=True, check=True)
        subprocess.run(["mariabackup", "--prepare", f"--target-dir={second}"], check=True, capture_output=True)
        assert (second / "x2_db" / "t.ibd").is_file()
    finally:
        inserter.stop.set()
        drop(mariadb_server, "x1_shop", "x1_hot")
        drop(mariadb_server2, "x2_db")


def test_refused_login_fails_the_source_in_one_line(mariadb_server: MariaDB, tmp_path: Path) -> None:
    config = write_config(tmp_path, [{
        "job": "hot", "type": "mysql_xtradb",
        "sources": [{"connect": {"db_host": "127.0.0.1", "db_port": mariadb_server.port,
                                 "db_user": mariadb_server.user, "db_password": "wrong"}}],
        "storages": [local_storage(tmp_path / "backups")],
    }])  # fmt: skip
    done = run_corral(config, "hot")
    assert done.returncode == 1
    line = next(line for line in done.stderr.splitlines() if "[ERROR] [hot] source 1" in line)
    assert f"target xtradb_127.0.0.1_{mariadb_server.port}: 127.0.0.1:{mariadb_server.port}: mariabackup exited" in line
    assert "Access denied for user 'corral'@'127.0.0.1'" in line
    assert not (tmp_path / "backups" / "hot").exists() or not list((tmp_path / "backups" / "hot").rglob("*.xbstream*"))


def test_a_table_mariabackup_could_not_copy_is_a_warning(mariadb_server: MariaDB, corral_servers_root: Path) -> None:
    """An Aria table whose files are links (`DATA DIRECTORY`) is left out by mariabackup, which says `Error on aria
    table file open` and exits 0: the archive lacks its rows while the drill, counting the tables by their
    definitions, passed. The run warns, naming the file."""
    tmp_path = instance_dir(corral_servers_root, "xa")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o777)
    drop(mariadb_server, "xa_shop")
    execute(mariadb_server, "CREATE DATABASE xa_shop", "CREATE TABLE xa_shop.kept (id INT PRIMARY KEY) ENGINE=Aria "
            f"DATA DIRECTORY = '{elsewhere}' INDEX DIRECTORY = '{elsewhere}'", "INSERT INTO xa_shop.kept VALUES (1)")
    config = write_config(tmp_path, [{
        "job": "hot", "type": "mysql_xtradb",
        "sources": [{"connect": {"db_host": "127.0.0.1", "db_port": mariadb_server.port,
                                 "db_user": mariadb_server.user, "db_password": mariadb_server.password},
                     "compression": "none"}],
        "storages": [local_storage(tmp_path / "backups")],
    }])  # fmt: skip
    try:
        done = run_corral(config, "hot")
    finally:
        drop(mariadb_server, "xa_shop")
    warned = [line for line in done.stderr.splitlines() if "WARNING" in line and "xa_shop/kept.MA" in line]
    assert warned and "not in the backup" in warned[0], done.stderr[-3000:]
