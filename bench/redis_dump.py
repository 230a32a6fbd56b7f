#!/usr/bin/env python3
"""corral's ``redis`` job vs ``redis-cli --rdb - | zstd -T0 -3`` by hand, on a throwaway Redis filled with keys.

    .venv/bin/python bench/redis_dump.py                   # 200k keys (~100 MB), quick
    .venv/bin/python bench/redis_dump.py --keys 2000000    # ~1 GB

corral relays redis-cli's output through Python (to drop the EOF mark redis-cli leaves on stdout): this measures
what that costs (nothing measurable: the same snapshot relayed in-process took 1.24 s vs 1.31 s by hand). Prints the
wall-time ratio corral / by hand, which includes corral's fixed start-up (~1.4 s on a loaded 2-core machine:
interpreter, config, plugins), and corral's own peak RSS (target < 100 MB, flat in the data size).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

import redis
import yaml
from common import CORRAL, Measured, run_measured

from corral_testservers import Redis, make_server_root, start_redis


def fill(server: Redis, keys: int) -> int:
    """Strings, hashes and lists with partly repetitive values of 100 to 900 bytes."""
    rng = random.Random(1)
    client = redis.Redis(**server.connect_kwargs())
    words = [b"order", b"paid", b"sent", b"customer", b"lorem", b"ipsum", b"session", b"cart"]
    pipe = client.pipeline(transaction=False)
    for n in range(keys):
        value = b" ".join(rng.choice(words) for _ in range(rng.randint(15, 120))) + os.urandom(16)
        if n % 10 == 0:
            pipe.hset(f"hash:{n}", mapping={"a": value, "b": value[:50]})
        elif n % 10 == 1:
            pipe.rpush(f"list:{n}", value, value[:30])
        else:
            pipe.set(f"str:{n}", value)
        if n % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()
    return int(client.info("memory")["used_memory"])


def corral_config(work: Path, server: Redis) -> Path:
    job = {
        "job": "cache", "type": "redis", "tmp_dir": str(work / "tmp"),
        "sources": [{"connect": {"db_host": server.host, "db_port": server.port, "db_password": server.password},
                     "compression": "zstd"}],
        "storages": [{"storage": "local", "backup_dir": str(work / "backups")}],
    }  # fmt: skip
    main = {"main": {"general_path_to_all_tmp_dir": str(work / "tmp"), "log_file_name": str(work / "corral.log"),
                     "lock_file": str(work / "corral.lock")}, "jobs": [job]}
    path = work / "corral.conf"
    path.write_text(yaml.safe_dump(main))
    return path


def show(label: str, measured: Measured, size: int) -> None:
    print(f"  {label:<30} {measured.seconds:7.2f} s  peak RSS {measured.peak_rss_mb:6.1f} MB  "
          f"archive {size / 1e6:7.1f} MB  exit {measured.returncode}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200_000, help="keys to generate (default 200000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each side (the best counts)")
    args = parser.parse_args()
    with start_redis(make_server_root()) as server, tempfile.TemporaryDirectory(prefix="corral-bench-") as tmp:
        work = Path(tmp)
        memory = fill(server, args.keys)
        print(f"{args.keys} keys, {memory / 1e6:.0f} MB used by Redis")
        config = corral_config(work, server)
        out = work / "by-hand.rdb.zst"
        script = f"redis-cli -h {server.host} -p {server.port} --rdb - 2>/dev/null | zstd -q -c -T0 -3 > {out}"
        best: dict[str, Measured] = {}
        for run in range(args.runs):
            by_hand = run_measured(["bash", "-o", "pipefail", "-c", script], env=server.env())
            show(f"redis-cli | zstd (run {run + 1})", by_hand, out.stat().st_size)
            env = {"CORRAL_NOW": f"2026-01-31T03:00:{run:02d}"}
            measured = run_measured([*CORRAL, "start", "-c", str(config)], env=env)
            archive = max((work / "backups").rglob("*.rdb.zst"), key=lambda p: p.stat().st_mtime)
            show(f"corral redis (run {run + 1})", measured, archive.stat().st_size)
            if measured.returncode != 0:
                sys.exit(f"corral failed; see {work / 'corral.log'}")
            for name, value in (("hand", by_hand), ("corral", measured)):
                if name not in best or value.seconds < best[name].seconds:
                    best[name] = value
        print(f"ratio corral / by hand: {best['corral'].seconds / best['hand'].seconds:.2f}  "
              f"(corral {best['corral'].seconds:.2f} s, by hand {best['hand'].seconds:.2f} s)")
        print(f"corral peak RSS: {best['corral'].peak_rss_mb:.1f} MB (target < 100 MB)")


if __name__ == "__main__":
    main()
