#!/usr/bin/env python3
"""corral's ``mysql`` job (compression: zstd) vs ``mariadb-dump ... | zstd -T0 -3`` by hand, on a throwaway
MariaDB filled with generated rows, in the same run.

    .venv/bin/python bench/mysql_dump.py                  # ~32 MB of table data, quick
    .venv/bin/python bench/mysql_dump.py --size-mb 1024   # the issue's measurement

Prints the wall-time ratio corral / by hand (target <= 1.05), the same for CPU time (which, unlike wall
time, holds on a busy machine), corral's own peak RSS (target < 100 MB) and, apart, the peak RSS of the programs
it drives (mariadb-dump, zstd: the same processes in both runs). corral runs its children at nice 19 / ionice
best-effort 7; the commands by hand run with the same priority so that only corral's own work differs. The
by-hand command uses the options corral passes by default. Needs corral-testservers (installed by install.sh)
and Debian's mariadb-server, mariadb-client, zstd.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pymysql
import yaml
from common import CORRAL, Measured

from corral_testservers import MariaDB, make_server_root, start_mariadb

DB = "bench"
ROW_BYTES = 330  # about what a generated row takes in the dump
LOW_PRIORITY = ["nice", "-n", "19", "ionice", "-c2", "-n7"]
DUMP_OPTIONS = "--routines --hex-blob --single-transaction --databases"  # what corral passes without extra_keys


def fill(server: MariaDB, size_mb: int) -> int:
    """Rows like an application's: ids, dates, numbers, short text and a longer, partly repetitive body."""
    rows = size_mb * 1024 * 1024 // ROW_BYTES
    batch = 200_000
    conn = pymysql.connect(**server.connect_kwargs(), autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {DB}")
            cur.execute(f"CREATE DATABASE {DB}")
            cur.execute(f"USE {DB}")  # the sequence engine (seq_1_to_N) needs a current database
            cur.execute(f"CREATE TABLE {DB}.orders (id BIGINT PRIMARY KEY, customer VARCHAR(40), amount DECIMAL(12,2),"
                        " created DATETIME, status VARCHAR(8), body TEXT) ENGINE=InnoDB")
            for start in range(0, rows, batch):
                end = min(start + batch, rows)
                cur.execute(
                    f"INSERT INTO {DB}.orders SELECT seq, CONCAT('customer ', seq % 50000), (seq % 100000) / 100,"
                    " '2020-01-01' + INTERVAL seq SECOND, ELT(1 + seq % 3, 'new', 'paid', 'sent'),"
                    " CONCAT(MD5(seq), ' ', MD5(seq * 7), ' lorem ipsum dolor sit amet ', SHA2(seq, 256), ' ',"
                    f" REPEAT('x', seq % 40)) FROM seq_{start + 1}_to_{end}"
                )
            cur.execute(f"ANALYZE TABLE {DB}.orders")  # so that DATA_LENGTH is current
            cur.fetchall()
            cur.execute("SELECT DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (DB,))
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def corral_config(work: Path, server: MariaDB) -> Path:
    job = {
        "job": "mysql", "type": "mysql", "tmp_dir": str(work / "tmp"),
        "sources": [{
            "connect": {"db_host": server.host, "db_port": server.port, "db_user": server.user,
                        "db_password": server.password},
            "target": [DB], "compression": "zstd",
        }],
        "storages": [{"storage": "local", "backup_dir": str(work / "backups")}],
    }  # fmt: skip
    main = {"main": {"general_path_to_all_tmp_dir": str(work / "tmp"), "log_file_name": str(work / "corral.log"),
                     "lock_file": str(work / "corral.lock")}, "jobs": [job]}
    path = work / "corral.conf"
    path.write_text(yaml.safe_dump(main))
    return path


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


@dataclass
class Tree:
    """One measured run: wall time and peak RSS of the command itself, CPU seconds of all it started, and the
    peak RSS (VmHWM, MB) of each program below it."""

    measured: Measured
    cpu: float
    tools: dict[str, float]


def run_tree(command: list[str], env: dict[str, str] | None = None) -> Tree:
    """Run ``command``; CPU time (user + sys of it and every descendant) holds when the machine is busy, wall
    time does not."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    own = 0
    tools: dict[str, int] = {}
    stop = threading.Event()

    def sample() -> None:
        nonlocal own
        while not stop.is_set():
            try:
                own = max(own, _status(process.pid, "VmHWM"))
                pending = _children(process.pid)
                while pending:
                    pid = pending.pop()
                    try:
                        name = Path(f"/proc/{pid}/comm").read_text().strip()
                        if not name.startswith("python"):  # a fork caught before its exec shares corral's pages
                            tools[name] = max(tools.get(name, 0), _status(pid, "VmHWM"))
                    except OSError:
                        continue
                    pending += _children(pid)
            except (OSError, ValueError):
                pass
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)  # its rusage includes every descendant it waited for
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    sampler.join()
    return Tree(Measured(seconds, own / 1024, process.returncode), usage.ru_utime + usage.ru_stime,
                {name: kb / 1024 for name, kb in tools.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=32, help="table data to generate (default 32 MB)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is reported")
    args = parser.parse_args()
    if shutil.which("mariadb-dump") is None or shutil.which("zstd") is None:
        raise SystemExit("needs mariadb-dump and zstd: apt install mariadb-client zstd")

    root = make_server_root()
    work = Path(tempfile.mkdtemp(prefix="corral-bench-mysql-"))
    try:
        with start_mariadb(root) as server:
            started = time.perf_counter()
            data_bytes = fill(server, args.size_mb)
            print(f"database `{DB}`: {data_bytes / 2**20:.0f} MiB of InnoDB data "
                  f"(filled in {time.perf_counter() - started:.0f} s)")
            config = corral_config(work, server)
            hand_out = work / "hand.sql.zst"
            dump = f"mariadb-dump --defaults-file={server.defaults_file} {DUMP_OPTIONS} {DB}"
            warm = run_tree([*LOW_PRIORITY, "bash", "-o", "pipefail", "-c", f"{dump} > /dev/null"])
            assert warm.measured.returncode == 0, "mariadb-dump failed"
            print(f"(mariadb-dump alone, uncompressed to /dev/null: {warm.measured.seconds:.2f} s)")
            corral_runs: list[Measured] = []
            hand_runs: list[Measured] = []
            corral_cpu: list[float] = []
            hand_cpu: list[float] = []
            tools: dict[str, float] = {}
            for _ in range(args.rounds):
                shutil.rmtree(work / "backups", ignore_errors=True)
                hand = run_tree([*LOW_PRIORITY, "bash", "-o", "pipefail", "-c",
                                 f"{dump} | zstd -T0 -3 -q -c > {hand_out}"])
                assert hand.measured.returncode == 0
                hand_runs.append(hand.measured)
                hand_cpu.append(hand.cpu)
                run = run_tree([*CORRAL, "start", "-c", str(config)], env={"CORRAL_NOW": "2026-01-31T03:00:00"})
                assert run.measured.returncode == 0, (work / "corral.log").read_text()[-2000:]
                corral_runs.append(run.measured)
                corral_cpu.append(run.cpu)
                for name, mb in run.tools.items():
                    tools[name] = max(tools.get(name, 0.0), mb)
            archive = next((work / "backups").rglob(f"{DB}_*.sql.zst"))
            check = subprocess.run(f"zstd -dc '{archive}' | tail -c 200", shell=True, capture_output=True, text=True)
            assert "Dump completed" in check.stdout, "corral's archive is not a complete dump"
            corral_s = statistics.median(m.seconds for m in corral_runs)
            hand_s = statistics.median(m.seconds for m in hand_runs)
            print(f"by hand  mariadb-dump | zstd -T0 -3: {hand_s:7.2f} s  {hand_out.stat().st_size / 2**20:8.1f} MiB"
                  f"  ({len(hand_runs)} rounds: " + ", ".join(f"{m.seconds:.2f}" for m in hand_runs) + ")")
            print(f"corral   mysql, compression: zstd:  {corral_s:7.2f} s  {archive.stat().st_size / 2**20:8.1f} MiB"
                  f"  ({len(corral_runs)} rounds: " + ", ".join(f"{m.seconds:.2f}" for m in corral_runs) + ")")
            best = min(m.seconds for m in corral_runs) / min(m.seconds for m in hand_runs)
            print(f"ratio corral / by hand: {corral_s / hand_s:.3f} of the medians, {best:.3f} of the fastest runs "
                  f"(target <= 1.05); fixed cost {corral_s - hand_s:+.2f} s")
            corral_c, hand_c = statistics.median(corral_cpu), statistics.median(hand_cpu)
            print(f"CPU seconds of the client side (the server excluded), medians: by hand {hand_c:.2f}, corral "
                  f"{corral_c:.2f}: ratio {corral_c / hand_c:.3f}, corral's own work {corral_c - hand_c:+.2f} s")
            print(f"corral peak RSS: {max(m.peak_rss_mb for m in corral_runs):.1f} MB (target < 100 MB)")
            print("programs corral drove, peak RSS: "
                  + ", ".join(f"{name} {mb:.1f} MB" for name, mb in sorted(tools.items())))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
