#!/usr/bin/env python3
"""``corral drill`` of a ``mysql`` dump vs restoring it by hand into a MariaDB that is already running:
``zstd -dc FILE | mariadb``.

    .venv/bin/python bench/drill_mysql.py                 # ~256 MB of table data (the issue's measurement)
    .venv/bin/python bench/drill_mysql.py --size-mb 64    # quicker

The drill does more than the restore by hand: mariadb-install-db and the start of its own mariadbd, the exact
COUNT(*) of every table and the comparison with the facts, the stop. Prints the wall times (medians), their
ratio, corral's own peak RSS (its children, zstd, mariadb and mariadbd, apart) and the load average, then one
verbose drill with the seconds at which each line came (where the time goes). Needs corral-testservers and
Debian's mariadb-server, mariadb-client, zstd.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics

from common import CORRAL, Measured, first_archive, print_timed, run_measured
from mysql_dump import DB, corral_config, fill  # the same data and job as the dump bench
from restore_mysql import drop, rows

from corral_testservers import make_server_root, start_mariadb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=256, help="table data to generate (default 256 MB)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is reported")
    args = parser.parse_args()
    for program in ("mariadb", "mariadb-dump", "mariadb-install-db", "mariadbd", "zstd"):
        if shutil.which(program) is None:
            raise SystemExit(f"needs {program}: apt install mariadb-server mariadb-client zstd")

    root = make_server_root()
    work = root / "drill-bench"
    work.mkdir(mode=0o711)  # the drill's server runs as mysql (when root): it traverses work/tmp to its folder
    (work / "tmp").mkdir(mode=0o711)
    try:
        with start_mariadb(root) as server:
            data_bytes = fill(server, args.size_mb)
            expected = rows(server)
            config = corral_config(work, server)
            archive = first_archive(config, work, f"{DB}_*.sql.zst")
            print(f"database `{DB}`: {data_bytes / 2**20:.0f} MiB of InnoDB data, {expected} rows; archive "
                  f"{archive.stat().st_size / 2**20:.0f} MiB (zstd); load before: {os.getloadavg()[0]:.2f} "
                  f"({os.cpu_count()} CPUs)")
            by_hand = ["bash", "-o", "pipefail", "-c",
                       f"zstd -dc '{archive}' | mariadb --defaults-file={server.defaults_file}"]
            drill = [*CORRAL, "drill", "mysql", "--target", DB, "-c", str(config)]
            runs: dict[str, list[Measured]] = {"hand": [], "drill": []}
            for _ in range(args.rounds):
                drop(server)
                runs["hand"].append(run_measured(by_hand))
                assert runs["hand"][-1].returncode == 0 and rows(server) == expected
                runs["drill"].append(run_measured(drill))
                assert runs["drill"][-1].returncode == 0, "the drill failed"
            median = {name: statistics.median(m.seconds for m in measured) for name, measured in runs.items()}
            print(f"by hand  zstd -dc | mariadb (server running): {median['hand']:7.2f} s  ("
                  + ", ".join(f"{m.seconds:.2f}" for m in runs["hand"]) + ")")
            print(f"corral   drill (install-db, start, restore, COUNT(*), compare, stop): {median['drill']:7.2f} s  ("
                  + ", ".join(f"{m.seconds:.2f}" for m in runs["drill"]) + f"); ratio "
                  f"{median['drill'] / median['hand']:.3f}")
            rss = max(m.peak_rss_mb for m in runs["drill"])
            print(f"corral peak RSS {rss:.0f} MB (target < 150); load after: {os.getloadavg()[0]:.2f}")
            print("corral drill --verbose, each line with the seconds since the start (where the time goes):")
            print_timed([*drill, "--verbose"])
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
