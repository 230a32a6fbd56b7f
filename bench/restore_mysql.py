#!/usr/bin/env python3
"""``corral restore`` of a ``mysql`` dump into a server vs ``zstd -dc FILE | mariadb`` by hand, on a throwaway
MariaDB filled with generated rows, in the same run.

    .venv/bin/python bench/restore_mysql.py                  # ~32 MB of table data, quick
    .venv/bin/python bench/restore_mysql.py --size-mb 1024   # the issue's measurement (~1 GiB dump)

One ``corral start`` makes the archive; then, in alternating rounds, the database is dropped and loaded again
from it: by hand (the dump recreates it by name) and by ``corral restore JOB --target bench`` (corral checks
and creates the database, reads the archive as a stream, decompresses it with zstd and rewrites its own
``CREATE DATABASE``/``USE`` lines on the way into ``mariadb``). Prints the wall-time ratio corral / by hand
(target <= 1.10), the client side's CPU seconds (the server's work excluded), and corral's own peak RSS. Both
client sides run at nice 19 / ionice best-effort 7, as corral runs its programs; the server does most of the
work and runs at normal priority. Needs corral-testservers and Debian's mariadb-server, mariadb-client, zstd.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import pymysql
from common import CORRAL, Measured, first_archive
from mysql_dump import DB, LOW_PRIORITY, corral_config, fill, run_tree

from corral_testservers import MariaDB, make_server_root, start_mariadb


def drop(server: MariaDB) -> None:
    conn = pymysql.connect(**server.connect_kwargs(), autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {DB}")
    finally:
        conn.close()


def rows(server: MariaDB) -> int:
    conn = pymysql.connect(**server.connect_kwargs(), autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM {DB}.orders")
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=32, help="table data to generate (default 32 MB)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; the median is reported")
    args = parser.parse_args()
    for program in ("mariadb", "mariadb-dump", "zstd"):
        if shutil.which(program) is None:
            raise SystemExit(f"needs {program}: apt install mariadb-client zstd")

    root = make_server_root()
    work = Path(tempfile.mkdtemp(prefix="corral-bench-mysql-restore-"))
    try:
        with start_mariadb(root) as server:
            started = time.perf_counter()
            data_bytes = fill(server, args.size_mb)
            wanted = rows(server)
            print(f"database `{DB}`: {data_bytes / 2**20:.0f} MiB of InnoDB data, {wanted} rows "
                  f"(filled in {time.perf_counter() - started:.0f} s); load average {os.getloadavg()[0]:.2f}")
            config = corral_config(work, server)
            archive = first_archive(config, work, f"{DB}_*.sql.zst")
            plain = int(subprocess.run(f"zstd -dc '{archive}' | wc -c", shell=True, capture_output=True,
                                       text=True, check=True).stdout)
            print(f"archive: {archive.stat().st_size / 2**20:.1f} MiB zstd, {plain / 2**20:.1f} MiB of SQL")
            by_hand = f"zstd -dc '{archive}' | mariadb --defaults-file={server.defaults_file}"
            corral_runs: list[Measured] = []
            hand_runs: list[Measured] = []
            corral_cpu: list[float] = []
            hand_cpu: list[float] = []
            for _ in range(args.rounds):
                drop(server)
                hand = run_tree([*LOW_PRIORITY, "bash", "-o", "pipefail", "-c", by_hand])
                assert hand.measured.returncode == 0, "the restore by hand failed"
                assert rows(server) == wanted
                hand_runs.append(hand.measured)
                hand_cpu.append(hand.cpu)
                drop(server)
                run = run_tree([*CORRAL, "restore", "mysql", "--target", DB, "-c", str(config)])
                assert run.measured.returncode == 0, "corral restore failed"
                assert rows(server) == wanted
                corral_runs.append(run.measured)
                corral_cpu.append(run.cpu)
            corral_s = statistics.median(m.seconds for m in corral_runs)
            hand_s = statistics.median(m.seconds for m in hand_runs)
            print(f"by hand  zstd -dc | mariadb:  {hand_s:7.2f} s  ({len(hand_runs)} rounds: "
                  + ", ".join(f"{m.seconds:.2f}" for m in hand_runs) + ")")
            print(f"corral   restore --target {DB}: {corral_s:7.2f} s  ({len(corral_runs)} rounds: "
                  + ", ".join(f"{m.seconds:.2f}" for m in corral_runs) + ")")
            best = min(m.seconds for m in corral_runs) / min(m.seconds for m in hand_runs)
            print(f"ratio corral / by hand: {corral_s / hand_s:.3f} of the medians, {best:.3f} of the fastest runs "
                  f"(target <= 1.10); fixed cost {corral_s - hand_s:+.2f} s")
            corral_c, hand_c = statistics.median(corral_cpu), statistics.median(hand_cpu)
            print(f"CPU seconds of the client side (the server excluded), medians: by hand {hand_c:.2f}, corral "
                  f"{corral_c:.2f}: corral's own work {corral_c - hand_c:+.2f} s")
            print(f"corral peak RSS: {max(m.peak_rss_mb for m in corral_runs):.1f} MB; "
                  f"load average at the end {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
