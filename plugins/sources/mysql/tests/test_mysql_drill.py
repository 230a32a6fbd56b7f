"""``corral drill`` of ``mysql`` and ``mysql_xtradb`` archives made by the real ``corral start`` from a real
MariaDB: each drill starts its own throwaway mariadbd in its scratch folder and leaves none of it behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mysql_testkit import CORRAL, STAMP, drill_tmp, drop, execute, load_awkward, local_storage, write_config

from corral_testservers import MariaDB
from corral_testservers.workdirs import instance_dir

DB = "dr_shop"
GOOD_SQL = "SELECT 1 FROM customers WHERE price > 100 LIMIT 1"
COUNT_COMMAND = 'test "$(mariadb -N -e "SELECT COUNT(*) FROM legacy" "$CORRAL_DRILL_DATABASE")" = 50'


def corral(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CORRAL_NOW": "2026-01-31T03:00:00", **({"HOME": str(home)} if home else {})}
    return subprocess.run([str(CORRAL), *args], capture_output=True, text=True, timeout=600, env=env)


def throwaways(under: Path) -> list[int]:
    """The mariadbd processes whose command line names a folder under ``under``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"mariadbd") and str(under).encode() in b" ".join(argv):
                found.append(int(entry.name))
    return found


def left(tmp: Path) -> list[Path]:
    return [p for job in (tmp / "tmp").iterdir() if job.is_dir() for p in job.iterdir()]


def _connect(server: MariaDB) -> dict[str, Any]:
    return {"db_host": "127.0.0.1", "db_port": server.port, "db_user": server.user, "db_password": server.password}


@pytest.fixture(scope="module")
def backed_up(mariadb_server: MariaDB, corral_servers_root: Path) -> Iterator[dict[str, Any]]:
    """One `corral start` of `dr_shop` (the awkward database: 4 tables and a view) and of the whole instance."""
    tmp = instance_dir(corral_servers_root, "dr")  # 0755: the throwaway's `mysql` user traverses it
    drill_tmp(tmp, "shop", "hot")
    drop(mariadb_server, DB)
    load_awkward(mariadb_server, DB)
    execute(mariadb_server, *[f"ANALYZE TABLE {t}" for t in ("customers", "audit", "blobs", "legacy")], database=DB)
    jobs = [
        {"job": "shop", "type": "mysql", "sources": [{"connect": _connect(mariadb_server), "target": [DB]}],
         "storages": [local_storage(tmp / "b")],
         "drill": {"checks": [{"sql": GOOD_SQL}, {"command": COUNT_COMMAND}]}},
        {"job": "hot", "type": "mysql_xtradb", "sources": [{"connect": _connect(mariadb_server)}],
         "storages": [local_storage(tmp / "b")],
         "drill": {"checks": [{"sql": f"SELECT 1 FROM {DB}.legacy WHERE id = 49"}]}},
    ]  # fmt: skip
    config = write_config(tmp, jobs)
    try:
        done = corral("start", "-c", str(config))
        assert done.returncode == 0, done.stderr
        yield {"tmp": tmp, "config": config, "jobs": jobs}
    finally:
        drop(mariadb_server, DB)


def test_a_good_dump_passes_with_its_tables_and_rows(backed_up: dict[str, Any]) -> None:
    tmp = backed_up["tmp"]
    done = corral("drill", "shop", "-c", str(backed_up["config"]))
    assert done.returncode == 0, done.stdout + done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith(f"shop/{DB}: ")]
    rows = 13 + 13 + 7 + 50  # customers (12 + the procedure's), their audit rows, blobs, legacy
    assert f"(4 tables, {rows} rows): passed; 2 check(s) passed" in line, line
    assert done.stdout.splitlines()[-1] == "DRILL PASSED: 1 of 1 target(s) restored as recorded"
    assert not left(tmp) and not throwaways(tmp), "the throwaway server and its folder are gone"


def test_a_table_missing_from_the_archive_and_a_failing_check_fail(backed_up: dict[str, Any]) -> None:
    tmp = backed_up["tmp"]
    [record] = (tmp / "b" / "shop" / ".manifests").glob(f"{STAMP}.json")
    original = record.read_text()
    data = json.loads(original)
    data["archives"][0]["facts"]["tables"]["ghost"] = {"rows": 10}
    data["archives"][0]["facts"]["tables"]["blobs"] = {"rows": 20}  # more than came back (7): rows lost
    data["archives"][0]["facts"]["tables"]["legacy"] = {"rows": 40}  # fewer (an estimate 20 % short): no loss
    jobs = [{**backed_up["jobs"][0], "drill": {"checks": [{"sql": "SELECT 1 FROM customers WHERE name = 'nobody'"},
                                                          {"sql": GOOD_SQL}]}}]
    config = write_config(tmp, jobs, name="failing.conf")
    try:
        record.write_text(json.dumps(data))
        done = corral("drill", "shop", "-c", str(config))
    finally:
        record.write_text(original)
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith(f"shop/{DB}: ")]
    assert "FAILED after " in line, line
    assert "table `ghost` is missing (recorded: 10)" in line, line
    assert "table `blobs`: 7 came back, 20 recorded" in line, line
    assert "legacy" not in line, "more rows than the estimate recorded lose none"
    assert "check `SELECT 1 FROM customers WHERE name = 'nobody'` returned no row" in line, line
    assert GOOD_SQL not in line
    assert not left(tmp) and not throwaways(tmp)


def test_sigterm_mid_drill_leaves_no_server_and_no_scratch(backed_up: dict[str, Any]) -> None:
    tmp = backed_up["tmp"]
    marker = tmp / "check-started"
    jobs = [{**backed_up["jobs"][0], "drill": {"checks": [{"command": f"touch {marker} && exec sleep 300"}]}}]
    config = write_config(tmp, jobs, name="slow.conf")
    run = subprocess.Popen([str(CORRAL), "drill", "shop", "-c", str(config)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.1)
        assert marker.exists(), "the check never started"
        assert throwaways(tmp), "the throwaway mariadbd runs while the check does"
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode != 0
    assert "interrupted by signal 15 (SIGTERM)" in err, out + err
    assert not throwaways(tmp), "the throwaway mariadbd was stopped"
    assert not left(tmp), "the scratch folder was removed"


def test_a_hot_backup_is_prepared_started_and_compared(backed_up: dict[str, Any]) -> None:
    tmp = backed_up["tmp"]
    done = corral("drill", "hot", "-c", str(backed_up["config"]))
    assert done.returncode == 0, done.stdout + done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("hot/xtradb_")]
    assert " databases, " in line and line.endswith(": passed; 1 check(s) passed"), line
    assert not left(tmp) and not throwaways(tmp)


def test_a_scratch_server_gets_a_random_name_dropped_after(mariadb_server: MariaDB, backed_up: dict[str, Any]
                                                           ) -> None:  # fmt: skip
    """``drill: server``: no throwaway server; the dump goes into `corral_drill_<random>`, gone afterwards."""
    tmp = backed_up["tmp"]
    jobs = [{**backed_up["jobs"][0], "drill": {"server": f"127.0.0.1:{mariadb_server.port}",
                                               "checks": [{"sql": GOOD_SQL}, {"command": COUNT_COMMAND}]}}]
    config = write_config(tmp, jobs, name="server.conf")
    home = tmp / "home"  # the command check logs in with the user's own option file, as by hand
    home.mkdir(mode=0o700, exist_ok=True)
    (home / ".my.cnf").write_text(f"[client]\nuser={mariadb_server.user}\npassword={mariadb_server.password}\n")
    before = execute(mariadb_server, "SHOW DATABASES")
    done = corral("drill", "shop", "--verbose", "-c", str(config), home=home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "created database `corral_drill_" in done.stdout and f"on 127.0.0.1:{mariadb_server.port}" in done.stdout
    assert "(4 tables, 83 rows): passed; 2 check(s) passed" in done.stdout, done.stdout
    assert execute(mariadb_server, "SHOW DATABASES") == before, "the drill's database was dropped"
    assert not throwaways(tmp) and not left(tmp)


def test_an_altered_dump_writes_no_file_outside_and_the_throwaway_has_no_network(backed_up: dict[str, Any]) -> None:
    """The throwaway runs as root: an altered dump's `SELECT ... INTO OUTFILE` must not reach the system (it wrote a
    root-owned file anywhere), and a hot backup's production accounts must not log in over TCP during the drill."""
    tmp = backed_up["tmp"]
    [archive] = (tmp / "b" / "shop" / DB).glob(f"{DB}_*.sql")
    original = archive.read_bytes()
    target = tmp / f"pwned-{os.getpid()}"
    settings = tmp / "settings.txt"
    probe = f"mariadb -N -e 'SELECT @@skip_networking, @@local_infile, @@secure_file_priv' > {settings}"
    jobs = [{**backed_up["jobs"][0], "drill": {"checks": [{"command": probe}]}}]
    config = write_config(tmp, jobs, name="altered.conf")
    try:
        archive.write_bytes(original + f"SELECT 'root was here' INTO OUTFILE '{target}';\n".encode())
        done = corral("drill", "shop", "-c", str(config))
    finally:
        archive.write_bytes(original)
    assert not target.exists(), "the altered dump wrote a file as root"
    assert done.returncode == 1 and "read back is not what was stored" in done.stdout, done.stdout + done.stderr
    jobs = [{**backed_up["jobs"][0], "drill": {"checks": [{"command": probe}]}}]
    done = corral("drill", "shop", "-c", str(write_config(tmp, jobs, name="probe.conf")))
    assert done.returncode == 0, done.stdout + done.stderr
    networking, infile, files = settings.read_text().rstrip("\n").split("\t")
    assert (networking, infile) == ("1", "0")
    assert files.endswith("/files/") and "/db/" in files, files
    assert not left(tmp) and not throwaways(tmp)
