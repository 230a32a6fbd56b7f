"""``is_slave: yes`` on a real replica: the SQL thread pauses for each dump and resumes, even when a dump fails."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pymysql
import pytest
from mysql_testkit import CORRAL, NOW, connect, drop, execute, local_storage, run_corral, stored, write_config

from corral_testservers import MariaDB
from corral_testservers.mariadb_server import start_mariadb


def _sql_thread(server: MariaDB) -> str:
    conn = connect(server)
    try:
        with conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute("SHOW SLAVE STATUS")
            return cur.fetchone()["Slave_SQL_Running"]
    finally:
        conn.close()


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def replica(mariadb_server: MariaDB, corral_servers_root: Path) -> Iterator[MariaDB]:
    """A third instance replicating `mariadb_server` from its current binlog position (classic, not GTID)."""
    with start_mariadb(corral_servers_root) as server:
        binlog, position = execute(mariadb_server, "SHOW MASTER STATUS")[0][:2]
        execute(
            server,
            "SET GLOBAL server_id = 2",  # the harness starts every instance with server-id 1
            f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={mariadb_server.port}, "
            f"MASTER_USER='{mariadb_server.user}', MASTER_PASSWORD='{mariadb_server.password}', "
            f"MASTER_LOG_FILE='{binlog}', MASTER_LOG_POS={position}, MASTER_USE_GTID=no",
            "START SLAVE",
        )
        _wait_for(lambda: _sql_thread(server) == "Yes", "the replica's SQL thread")
        yield server
        execute(server, "STOP SLAVE", "RESET SLAVE ALL")


def test_sql_thread_paused_per_dump_and_resumed_after_a_failure(
    mariadb_server: MariaDB, mariadb_server2: MariaDB, replica: MariaDB, tmp_path: Path
) -> None:
    general_log = tmp_path / "general.log"
    try:
        execute(mariadb_server,
                "CREATE DATABASE rep_good", "CREATE TABLE rep_good.t (id INT PRIMARY KEY, v VARCHAR(20))",
                "INSERT INTO rep_good.t VALUES (1, 'replicated')",
                "CREATE DATABASE rep_broken", "CREATE TABLE rep_broken.gone (id INT)",
                "CREATE VIEW rep_broken.v AS SELECT id FROM rep_broken.gone", "DROP TABLE rep_broken.gone")
        _wait_for(lambda: execute(replica, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA ="
                                  " 'rep_broken' AND TABLE_TYPE = 'VIEW'") == [(1,)], "replication of the test data")
        execute(replica, f"SET GLOBAL general_log_file = '{general_log}'", "SET GLOBAL general_log = 1")
        backups = tmp_path / "backups"
        config = write_config(tmp_path, [{
            "job": "replica", "type": "mysql",
            "sources": [
                {"connect": {"db_host": "127.0.0.1", "db_port": replica.port, "db_user": replica.user,
                             "db_password": replica.password},
                 "target": ["rep_broken", "rep_good"], "is_slave": True, "compression": "zstd"},
                {"connect": {"db_host": "127.0.0.1", "db_port": mariadb_server2.port, "db_user": mariadb_server2.user,
                             "db_password": mariadb_server2.password},
                 "target": ["mysql"], "is_slave": True},
            ],
            "storages": [local_storage(backups)],
        }])  # fmt: skip
        done = run_corral(config, "replica")
        execute(replica, "SET GLOBAL general_log = 0")

        assert done.returncode == 1
        assert "[ERROR] [replica] source 1: target rep_broken: mariadb-dump exited with code 2:" in done.stderr
        assert set(stored(backups, "replica")) == {"rep_good", "mysql"}
        assert _sql_thread(replica) == "Yes"
        assert ("[WARNING] [replica] target mysql: is_slave: yes, but the server replicates from nobody; "
                "nothing was paused") in done.stderr

        # The replica's own log shows the order: pause, dump, resume, for each database, the failed one too.
        events = []
        for line in general_log.read_text(errors="replace").splitlines():
            if "STOP SLAVE SQL_THREAD" in line:
                events.append("stop")
            elif "START SLAVE SQL_THREAD" in line:
                events.append("start")
            elif "SHOW CREATE DATABASE" in line and "rep_" in line:
                events.append(line.rsplit("`", 2)[-2])
        assert events == ["stop", "rep_broken", "start", "stop", "rep_good", "start"], events

        # replication still flows
        execute(mariadb_server, "INSERT INTO rep_good.t VALUES (2, 'after backup')")
        _wait_for(lambda: execute(replica, "SELECT COUNT(*) FROM rep_good.t") == [(2,)], "replication after backup")
    finally:
        drop(mariadb_server, "rep_good", "rep_broken")


def test_sigterm_during_a_paused_dump_still_resumes_the_sql_thread(
    mariadb_server: MariaDB, replica: MariaDB, tmp_path: Path
) -> None:
    try:
        execute(mariadb_server, "CREATE DATABASE rep_slow", "CREATE TABLE rep_slow.t (id INT PRIMARY KEY)",
                "INSERT INTO rep_slow.t VALUES " + ",".join(f"({i})" for i in range(40)))
        _wait_for(lambda: execute(replica, "SELECT COUNT(*) FROM information_schema.TABLES"
                                  " WHERE TABLE_SCHEMA = 'rep_slow'") == [(1,)], "replication of the test data")
        backups = tmp_path / "backups"
        config = write_config(tmp_path, [{
            "job": "replica", "type": "mysql", "tmp_dir": str(tmp_path / "work"),
            "sources": [{"connect": {"db_host": "127.0.0.1", "db_port": replica.port, "db_user": replica.user,
                                     "db_password": replica.password},
                         "target": ["rep_slow"], "is_slave": True, "compression": "zstd",
                         "extra_keys": "--where='SLEEP(0.25) = 0'"}],
            "storages": [local_storage(backups)],
        }])  # fmt: skip
        corral = subprocess.Popen([str(CORRAL), "start", "-v", "-c", str(config), "replica"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env={**os.environ, "CORRAL_NOW": NOW})
        _wait_for(lambda: _sql_thread(replica) == "No", "the pause before the dump")
        time.sleep(0.5)  # the dump is running
        corral.send_signal(signal.SIGTERM)
        _, stderr = corral.communicate(timeout=60)
        assert corral.returncode == 143, stderr
        assert _sql_thread(replica) == "Yes"
        # nothing under a final name (the core leaves a streamed upload's hidden temp name on SIGTERM for now;
        # the next run's rotation removes it)
        assert not [p for p in backups.rglob("*.sql*") if ".partial-" not in p.name], "nothing partial is stored"
        assert not [p for p in (tmp_path / "work").rglob("*") if p.is_file()], "no partial dump, no option file"
    finally:
        drop(mariadb_server, "rep_slow")


def test_hot_backup_of_a_replica_records_its_position_and_keeps_it_running(replica: MariaDB, tmp_path: Path) -> None:
    """mysql_xtradb with is_slave: mariabackup's own --safe-slave-backup --slave-info."""
    backups = tmp_path / "backups"
    config = write_config(tmp_path, [{
        "job": "hot-replica", "type": "mysql_xtradb",
        "sources": [{"connect": {"db_host": "127.0.0.1", "db_port": replica.port, "db_user": replica.user,
                                 "db_password": replica.password},
                     "name": "replica", "is_slave": True, "compression": "zstd"}],
        "storages": [local_storage(backups)],
    }])  # fmt: skip
    done = run_corral(config, "hot-replica")
    assert done.returncode == 0, done.stderr
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(f"zstd -dc '{stored(backups, 'hot-replica')['replica']}' | mbstream -x -C '{unpacked}'",
                   shell=True, check=True)
    assert "MASTER_LOG_FILE" in (unpacked / "xtrabackup_slave_info").read_text()
    assert _sql_thread(replica) == "Yes"
