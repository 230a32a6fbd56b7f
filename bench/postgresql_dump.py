#!/usr/bin/env python3
"""corral's ``postgresql`` job (custom format through zstd) vs ``pg_dump -Fc -Z0 | zstd -T0`` by hand, on a
throwaway PostgreSQL 15 filled with generated rows; the default ``pg_dump -Fc`` (built-in zlib) for reference.

    .venv/bin/python bench/postgresql_dump.py                  # ~64 MB of table data, quick
    .venv/bin/python bench/postgresql_dump.py --size-mb 1024   # the issue's measurement

Prints the wall-time ratio corral / by hand (target <= 1.05), corral's own peak RSS (target < 100 MB) and
how much faster both are than a default ``pg_dump -Fc``. corral runs its children at nice 19 / ionice
best-effort 7; the commands by hand run with the same priority so that only corral's own work differs.
Needs root (the server runs as `postgres`) and corral-testservers (installed by install.sh).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import yaml
from common import CORRAL, Measured, run_measured

from corral_testservers import Postgres, make_server_root, start_postgres

DB = "bench"
ROW_BYTES = 260  # about what a generated row takes on disk
LOW_PRIORITY = ["nice", "-n", "19", "ionice", "-c2", "-n7"]


def fill(server: Postgres, size_mb: int) -> int:
    """Rows like an application's: ids, timestamps, numbers, short text and a longer, partly repetitive body."""
    with psycopg.connect(**server.connect_kwargs(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB}")
        conn.execute(f"CREATE DATABASE {DB}")
    rows = size_mb * 1024 * 1024 // ROW_BYTES
    batch = 200_000
    with psycopg.connect(**{**server.connect_kwargs(), "dbname": DB}, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id bigint PRIMARY KEY, customer text, amount numeric(12, 2), "
                     "created timestamptz, status text, body text)")
        for start in range(0, rows, batch):
            conn.execute(
                "INSERT INTO orders SELECT g, 'customer ' || (g %% 50000), (g %% 100000) / 100.0, "
                "timestamptz '2020-01-01' + g * interval '1 second', (ARRAY['new', 'paid', 'sent'])[1 + g %% 3], "
                "md5(g::text) || ' ' || md5((g * 7)::text) || ' lorem ipsum dolor sit amet ' || md5((g * 13)::text) "
                "|| ' ' || repeat('x', (g %% 40)::int) FROM generate_series(%s::bigint, %s::bigint) g",
                [start + 1, min(start + batch, rows)],
            )
        conn.execute("VACUUM ANALYZE orders")
        return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]


def corral_config(work: Path, server: Postgres, recipient: str | None = None, name: str = "corral.conf") -> Path:
    job = {
        "job": "pg", "type": "postgresql", "tmp_dir": str(work / "tmp"),
        "sources": [{
            "connect": {"db_host": server.host, "db_port": server.port, "db_user": server.user,
                        "db_password": server.password},
            "target": [DB], "compression": "zstd",
        }],
        "storages": [{"storage": "local", "backup_dir": str(work / "backups")}],
        **({"encrypt": {"recipients": [recipient]}} if recipient else {}),
    }  # fmt: skip
    main = {"main": {"general_path_to_all_tmp_dir": str(work / "tmp"), "log_file_name": str(work / "corral.log"),
                     "lock_file": str(work / "corral.lock")}, "jobs": [job]}
    path = work / name
    path.write_text(yaml.safe_dump(main))
    return path


def encrypt_cost(work: Path, server: Postgres, rounds: int) -> None:
    """What `encrypt:` costs: the same corral job with and without it, alternating; medians and their ratio."""
    key = work / "age.key"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    public = subprocess.run(["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True).stdout.strip()
    configs = {"plain": corral_config(work, server), "encrypted": corral_config(work, server, public, "sealed.conf")}
    seconds: dict[str, list[float]] = {"plain": [], "encrypted": []}
    for round_ in range(rounds):
        for kind in ("plain", "encrypted") if round_ % 2 == 0 else ("encrypted", "plain"):
            shutil.rmtree(work / "backups", ignore_errors=True)
            run, _ = timed([*CORRAL, "start", "-c", str(configs[kind])], env={"CORRAL_NOW": "2026-01-31T03:00:00"})
            assert run.returncode == 0, (work / "corral.log").read_text()[-2000:]
            seconds[kind].append(run.seconds)
    plain, sealed = (statistics.median(seconds[kind]) for kind in ("plain", "encrypted"))
    print(f"encrypt: corral {plain:.2f} s, corral with encrypt (age) {sealed:.2f} s: overhead {sealed / plain:.3f} "
          f"(target <= 1.10; rounds: plain {', '.join(f'{s:.2f}' for s in seconds['plain'])}; encrypted "
          f"{', '.join(f'{s:.2f}' for s in seconds['encrypted'])})")


def cpu_seconds() -> float:
    """CPU time of every finished child process tree so far (the server's own work is not in it)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[Measured, float]:
    """run_measured, plus the CPU seconds the command and its children used: unlike wall time, barely
    disturbed by other work on the machine."""
    before = cpu_seconds()
    measured = run_measured(command, env=env)
    return measured, cpu_seconds() - before


def by_hand(server: Postgres, script: str) -> tuple[Measured, float]:
    env = {**server.env(), "PATH": f"{server.bin_dir}:{os.environ['PATH']}"}
    return timed([*LOW_PRIORITY, "bash", "-o", "pipefail", "-c", script], env=env)


def storage_seconds(log: Path) -> float:
    """Seconds the core spent putting archives on the storage, from its "stored `...` (size, N s)" lines."""
    return sum(float(match[1]) for match in re.finditer(r"stored `[^`]*` \([^,]*, ([\d.]+) s\)", log.read_text()))


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=64, help="table data to generate (default 64 MB)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; the median is reported")
    parser.add_argument("--skip-default", action="store_true", help="skip the slow default pg_dump -Fc")
    parser.add_argument("--encrypt-cost", action="store_true", help="only measure what `encrypt:` costs (needs age)")
    args = parser.parse_args()

    root = make_server_root()
    work = Path(tempfile.mkdtemp(prefix="corral-bench-pg-"))
    try:
        with start_postgres(root) as server:
            started = time.perf_counter()
            db_bytes = fill(server, args.size_mb)
            filled = time.perf_counter() - started
            print(f"database `{DB}`: {db_bytes / 2**20:.0f} MiB on disk (filled in {filled:.0f} s)")
            if args.encrypt_cost:
                encrypt_cost(work, server, args.rounds)
                return
            config = corral_config(work, server)
            warm, _ = by_hand(server, f"pg_dump -Fc -Z0 -d {DB} > /dev/null")  # page cache warm for everyone
            assert warm.returncode == 0
            corral_runs: list[Measured] = []
            hand_runs: list[Measured] = []
            copies: list[float] = []
            corral_cpu: list[float] = []
            hand_cpu: list[float] = []
            for _ in range(args.rounds):
                shutil.rmtree(work / "backups", ignore_errors=True)
                hand, cpu = by_hand(server, f"pg_dump -Fc -Z0 -d {DB} | zstd -T0 -3 -q -c > {work / 'hand.dump.zst'}")
                assert hand.returncode == 0
                hand_runs.append(hand)
                hand_cpu.append(cpu)
                run, cpu = timed([*CORRAL, "start", "-c", str(config)], env={"CORRAL_NOW": "2026-01-31T03:00:00"})
                corral_cpu.append(cpu)
                assert run.returncode == 0, (work / "corral.log").read_text()[-2000:]
                corral_runs.append(run)
                copies.append(storage_seconds(work / "corral.log"))
                (work / "corral.log").unlink()
            archive = next((work / "backups").rglob(f"{DB}_*.dump.zst"))
            check, _ = by_hand(server, f"zstd -dc {archive} | pg_restore -f /dev/null")
            assert check.returncode == 0, "pg_restore cannot read corral's archive"
            corral_s = statistics.median(m.seconds for m in corral_runs)
            hand_s = statistics.median(m.seconds for m in hand_runs)
            hand_mib = size_of(work / "hand.dump.zst") / 2**20
            print(f"by hand  pg_dump -Fc -Z0 | zstd -T0 -3: {hand_s:7.2f} s  {hand_mib:8.1f} MiB  (rounds: "
                  + ", ".join(f"{m.seconds:.2f}" for m in hand_runs) + ")")
            print(f"corral   postgresql, compression: zstd:  {corral_s:7.2f} s  {size_of(archive) / 2**20:8.1f} MiB"
                  "  (database + globals; rounds: " + ", ".join(f"{m.seconds:.2f}" for m in corral_runs) + ")")
            print(f"ratio corral / by hand: {corral_s / hand_s:.3f} (target <= 1.05); "
                  f"fixed cost {corral_s - hand_s:+.2f} s; best of each: "
                  f"{min(m.seconds for m in corral_runs) / min(m.seconds for m in hand_runs):.3f}")
            copy_s = statistics.median(copies)
            print(f"  of which the core's copy of the archives to the local storage: {copy_s:.2f} s; without it "
                  f"the ratio is {(corral_s - copy_s) / hand_s:.3f}")
            print(f"CPU seconds (the tools included, the server excluded): by hand {statistics.median(hand_cpu):.2f}, "
                  f"corral {statistics.median(corral_cpu):.2f}")
            print(f"corral peak RSS: {max(m.peak_rss_mb for m in corral_runs):.1f} MB (target < 100 MB)")
            print("zstd -dc ARCHIVE | pg_restore -f /dev/null reads all of corral's archive: ok")
            if not args.skip_default:
                default, _ = by_hand(server, f"pg_dump -Fc -d {DB} > {work / 'default.dump'}")
                assert default.returncode == 0
                print(f"default  pg_dump -Fc (zlib):            {default.seconds:7.2f} s  "
                      f"{size_of(work / 'default.dump') / 2**20:8.1f} MiB  -> corral is "
                      f"{default.seconds / corral_s:.1f}x faster")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
