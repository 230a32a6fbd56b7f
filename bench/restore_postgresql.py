#!/usr/bin/env python3
"""``corral restore`` of a ``postgresql`` dump into a server vs the standard tools by hand, on a throwaway
PostgreSQL 15: ``zstd -dc FILE | pg_restore -d DB`` (what corral streams) and ``pg_restore -j 2`` of the
decompressed file (what ``--jobs 2`` does, the decompression included, as corral's figure includes it).

    .venv/bin/python bench/restore_postgresql.py                 # ~1 GiB of table data (the issue's measurement)
    .venv/bin/python bench/restore_postgresql.py --size-mb 256   # quicker

Each round restores into a fresh database (dropped before). Prints the wall times, the ratios corral / by hand
(target <= 1.10), corral's own peak RSS (its children, zstd and pg_restore, are the same in both) and the load
average (the machine may be shared). Needs root (the server runs as `postgres`) and corral-testservers.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

import psycopg
from common import CORRAL, Measured, first_archive, run_measured
from postgresql_dump import DB, corral_config, fill  # the same data and job as the dump bench

from corral_testservers import Postgres, make_server_root, start_postgres

TARGET = "restored"
CREATE = f"psql -X -q -c 'CREATE DATABASE {TARGET} TEMPLATE template0'"  # corral creates it too: in both times


def recreate(server: Postgres, create: bool = True) -> None:
    with psycopg.connect(**server.connect_kwargs(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TARGET} WITH (FORCE)")
        if create:  # for a count only
            conn.execute(f"CREATE DATABASE {TARGET} TEMPLATE template0")


def by_hand(server: Postgres, script: str) -> Measured:
    env = {**server.env(), "PATH": f"{server.bin_dir}:{os.environ['PATH']}"}
    return run_measured(["bash", "-o", "pipefail", "-c", script], env=env)


def rows(server: Postgres) -> int:
    with psycopg.connect(**{**server.connect_kwargs(), "dbname": TARGET}) as conn:
        return int(conn.execute("SELECT count(*) FROM orders").fetchone()[0])  # type: ignore[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024, help="table data to generate (default 1024 MB)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds; the median is reported")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="corral-bench-pgr-"))
    atexit.register(shutil.rmtree, work, True)
    with start_postgres(make_server_root()) as server:
        db_bytes = fill(server, args.size_mb)
        config = corral_config(work, server)
        archive = first_archive(config, work, f"{DB}_*.dump.zst")
        expected = rows_of(server)
        print(f"database `{DB}`: {db_bytes / 2**20:.0f} MiB on disk; archive {archive.stat().st_size / 2**20:.0f} "
              f"MiB (zstd); load before: {os.getloadavg()[0]:.2f}")
        plain = work / "plain.dump"
        runs: dict[str, list[Measured]] = {"hand": [], "corral": [], "hand_j2": [], "corral_j2": []}
        restore = [*CORRAL, "restore", "pg", "--target", DB, "--as", TARGET, "--force", "-c", str(config)]
        for _ in range(args.rounds):
            recreate(server, create=False)
            runs["hand"].append(by_hand(server, f"{CREATE} && zstd -dc {archive} | pg_restore -d {TARGET}"))
            assert rows(server) == expected
            recreate(server, create=False)
            runs["corral"].append(run_measured(restore))
            assert runs["corral"][-1].returncode == 0 and rows(server) == expected
            recreate(server, create=False)
            runs["hand_j2"].append(by_hand(server, f"{CREATE} && zstd -q -d -f {archive} -o {plain} && "
                                                   f"pg_restore -j 2 -d {TARGET} {plain}; rm -f {plain}"))
            assert rows(server) == expected
            recreate(server, create=False)
            runs["corral_j2"].append(run_measured([*restore, "--jobs", "2"]))
            assert runs["corral_j2"][-1].returncode == 0 and rows(server) == expected
        median = {name: statistics.median(m.seconds for m in measured) for name, measured in runs.items()}
        rss = max(m.peak_rss_mb for m in runs["corral"] + runs["corral_j2"])
        print(f"by hand  zstd -dc | pg_restore -d:            {median['hand']:7.2f} s")
        print(f"corral   restore (streamed):                  {median['corral']:7.2f} s  "
              f"ratio {median['corral'] / median['hand']:.3f} (target <= 1.10)")
        print(f"by hand  zstd -d FILE && pg_restore -j 2:     {median['hand_j2']:7.2f} s")
        print(f"corral   restore --jobs 2:                    {median['corral_j2']:7.2f} s  "
              f"ratio {median['corral_j2'] / median['hand_j2']:.3f} (target <= 1.10)")
        print(f"--jobs 2 vs streamed (corral): {median['corral_j2'] / median['corral']:.3f}; corral peak RSS "
              f"{rss:.0f} MB; load after: {os.getloadavg()[0]:.2f}")
        recreate(server, create=False)
        for extra in ([], ["--jobs", "2"]):
            said = subprocess.run([*restore, *extra], capture_output=True, text=True, check=False)
            print(f"corral {' '.join(extra) or 'streamed'} said:\n  " + "\n  ".join(said.stdout.splitlines()
                                                                              + said.stderr.splitlines()))
            recreate(server, create=False)
    shutil.rmtree(work, ignore_errors=True)


def rows_of(server: Postgres) -> int:
    with psycopg.connect(**{**server.connect_kwargs(), "dbname": DB}) as conn:
        return int(conn.execute("SELECT count(*) FROM orders").fetchone()[0])  # type: ignore[index]


if __name__ == "__main__":
    main()
