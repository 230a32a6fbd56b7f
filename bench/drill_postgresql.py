#!/usr/bin/env python3
"""``corral drill`` of a ``postgresql`` dump vs the same test-restore by hand (a throwaway server: ``initdb``,
``pg_ctl start``, ``createdb``, ``zstd -dc FILE | pg_restore -d DB``, ``ANALYZE``, ``pg_ctl stop``), and vs
restoring it into a server that is already running (``createdb && zstd -dc FILE | pg_restore -d DB``).

    .venv/bin/python bench/drill_postgresql.py                 # ~256 MB of table data (the issue's measurement)
    .venv/bin/python bench/drill_postgresql.py --size-mb 64    # quicker

The drill does more than the restore by hand: initdb and start of its own server, the same run's roles, ANALYZE
and the comparison with the facts, the stop. Prints the wall times (medians), their ratio, what the drill's own
steps cost, corral's peak RSS (its children, zstd, pg_restore and postgres, apart) and the load average.
Needs root (the servers run as `postgres`) and corral-testservers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics

from common import CORRAL, Measured, first_archive, print_timed, run_measured
from postgresql_dump import DB, corral_config, fill  # the same data and job as the dump bench
from restore_postgresql import TARGET, by_hand, recreate, rows, rows_of

from corral_testservers import make_server_root, start_postgres


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=256, help="table data to generate (default 256 MB)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is reported")
    args = parser.parse_args()

    root = make_server_root()  # 0755: the drill's server runs as postgres and must reach its scratch folder
    work = root / "drill-bench"
    (work / "tmp").mkdir(parents=True, mode=0o711)
    (work / "tmp").chmod(0o711)
    with start_postgres(root) as server:
        db_bytes = fill(server, args.size_mb)
        config = corral_config(work, server)
        archive = first_archive(config, work, f"{DB}_*.dump.zst")
        expected = rows_of(server)
        print(f"database `{DB}`: {db_bytes / 2**20:.0f} MiB on disk, {expected} rows; archive "
              f"{archive.stat().st_size / 2**20:.0f} MiB (zstd); load before: {os.getloadavg()[0]:.2f}")
        drill = [*CORRAL, "drill", "pg", "--target", DB, "-c", str(config)]
        runs: dict[str, list[Measured]] = {"hand": [], "throwaway": [], "drill": []}
        scratch = work / "tmp" / "by-hand"
        throwaway = (f"rm -rf {scratch} && mkdir -m 700 {scratch} && chown postgres {scratch} && cd {scratch} && "
                     f"runuser -u postgres -- initdb -D {scratch}/data -U postgres -A trust >/dev/null && "
                     f"runuser -u postgres -- pg_ctl -D {scratch}/data -w -l {scratch}/log -o "
                     f"\"-c listen_addresses='' -k {scratch}\" start >/dev/null && "
                     f"psql -X -q -h {scratch} -U postgres -c 'CREATE DATABASE {TARGET} TEMPLATE template0' && "
                     f"zstd -dc {archive} | pg_restore -h {scratch} -U postgres -d {TARGET} && "
                     f"psql -X -q -h {scratch} -U postgres -d {TARGET} -c ANALYZE && "
                     f"runuser -u postgres -- pg_ctl -D {scratch}/data -w -m fast stop >/dev/null; "
                     f"code=$?; rm -rf {scratch}; exit $code")
        for _ in range(args.rounds):
            recreate(server, create=False)
            runs["hand"].append(by_hand(server, f"psql -X -q -c 'CREATE DATABASE {TARGET} TEMPLATE template0' && "
                                                f"zstd -dc {archive} | pg_restore -d {TARGET}"))
            assert runs["hand"][-1].returncode == 0 and rows(server) == expected
            runs["throwaway"].append(by_hand(server, throwaway))
            assert runs["throwaway"][-1].returncode == 0
            runs["drill"].append(run_measured(drill))
            assert runs["drill"][-1].returncode == 0
        recreate(server, create=False)
        median = {name: statistics.median(m.seconds for m in measured) for name, measured in runs.items()}
        rss = max(m.peak_rss_mb for m in runs["drill"])
        print(f"by hand  createdb && zstd -dc | pg_restore -d (server running): {median['hand']:7.2f} s")
        print(f"by hand  initdb, start, createdb, zstd -dc | pg_restore, ANALYZE, stop: {median['throwaway']:7.2f} s")
        print(f"corral   drill (initdb, start, roles, restore, ANALYZE, compare, stop): {median['drill']:7.2f} s  "
              f"ratio {median['drill'] / median['throwaway']:.3f} to the same by hand, "
              f"{median['drill'] / median['hand']:.3f} to the restore into a running server")
        print(f"corral peak RSS {rss:.0f} MB (target < 150); load after: {os.getloadavg()[0]:.2f}")
        print("corral drill --verbose, each line with the seconds since the start (where the time goes):")
        print_timed([*drill, "--verbose"])
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
