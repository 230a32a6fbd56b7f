#!/usr/bin/env python3
"""corral's ``mongodb`` job (mongodump's directory format, tar through zstd) vs the least any dumper can do: read
every collection's raw BSON batches with pymongo and pipe them into ``zstd -T0 -3``.

    .venv/bin/python bench/mongodb_dump.py                 # 20k documents, quick
    .venv/bin/python bench/mongodb_dump.py --docs 100000   # the full measurement

No mongodump exists for these machines (see ../shared/notes/test-servers.md), so the reference is that minimal
pymongo reader, run in the same session against the same server (SecantusDB, a pure-Python server: it dominates
the time). Prints the wall-time ratio corral / minimal reader and corral's own peak RSS, which must not grow with
the number of documents (one batch of 1000 documents and one 4 MiB spill buffer at most).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

import pymongo
import yaml
from bson import Binary
from common import CORRAL, Measured, run_measured

from corral_testservers import Mongo, make_server_root, start_mongo

DB = "bench"

READER = """
import subprocess, sys, pymongo
client = pymongo.MongoClient(sys.argv[1])
out = open(sys.argv[2], "wb")
zstd = subprocess.Popen(["zstd", "-q", "-c", "-T0", "-3"], stdin=subprocess.PIPE, stdout=out)
db = client[sys.argv[3]]
for name in sorted(db.list_collection_names()):
    for batch in db[name].find_raw_batches(batch_size=1000):
        zstd.stdin.write(batch)
zstd.stdin.close()
sys.exit(zstd.wait())
"""


def fill(server: Mongo, docs: int) -> int:
    """Documents like an application's: ids, numbers, dates, short text, a partly repetitive body, a small blob."""
    rng = random.Random(1)
    words = ["order", "paid", "sent", "customer", "lorem", "ipsum", "dolor", "amet", "bitrix", "shop"]
    with pymongo.MongoClient(server.url) as client:
        client.drop_database(DB)
        db = client[DB]
        batch = 5000
        for start in range(0, docs, batch):
            db.orders.insert_many([
                {"n": n, "customer": f"customer {n % 5000}", "amount": n % 100000 / 100, "status": rng.choice(words),
                 "body": " ".join(rng.choice(words) for _ in range(rng.randint(20, 120))),
                 "blob": Binary(os.urandom(64)), "tags": [rng.choice(words) for _ in range(3)]}
                for n in range(start, min(start + batch, docs))
            ], ordered=False)  # fmt: skip
        db.orders.create_index("customer")
        return int(db.command("dbStats")["dataSize"])


def corral_config(work: Path, server: Mongo) -> Path:
    job = {
        "job": "mongo", "type": "mongodb", "tmp_dir": str(work / "tmp"),
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


def show(label: str, measured: Measured, size: int) -> None:
    print(f"  {label:<28} {measured.seconds:7.2f} s  peak RSS {measured.peak_rss_mb:6.1f} MB  "
          f"archive {size / 1e6:7.1f} MB  exit {measured.returncode}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20_000, help="documents to generate (default 20000)")
    parser.add_argument("--runs", type=int, default=2, help="runs of each side (the best counts)")
    args = parser.parse_args()
    root = make_server_root()
    with start_mongo(root) as server, tempfile.TemporaryDirectory(prefix="corral-bench-") as tmp:
        work = Path(tmp)
        data = fill(server, args.docs)
        print(f"{args.docs} documents, {data / 1e6:.1f} MB of BSON in `{DB}`")
        config = corral_config(work, server)
        reader = work / "reader.py"
        reader.write_text(READER)
        best_corral = best_reader = None
        for run in range(args.runs):
            out = work / "by-hand.bson.zst"
            by_hand = run_measured([sys.executable, str(reader), server.url, str(out), DB])
            show(f"pymongo | zstd (run {run + 1})", by_hand, out.stat().st_size)
            env = {"CORRAL_NOW": f"2026-01-31T03:00:{run:02d}"}
            measured = run_measured([*CORRAL, "start", "-c", str(config)], env=env)
            archive = max((work / "backups").rglob("*.tar.zst"), key=lambda p: p.stat().st_mtime)
            show(f"corral mongodb (run {run + 1})", measured, archive.stat().st_size)
            if measured.returncode != 0:
                sys.exit(f"corral failed; see {work / 'corral.log'}")
            best_corral = measured if best_corral is None or measured.seconds < best_corral.seconds else best_corral
            best_reader = by_hand if best_reader is None or by_hand.seconds < best_reader.seconds else best_reader
        assert best_corral is not None and best_reader is not None
        print(f"ratio corral / minimal reader: {best_corral.seconds / best_reader.seconds:.2f}  "
              f"(corral {best_corral.seconds:.2f} s, reader {best_reader.seconds:.2f} s)")
        print(f"corral peak RSS: {best_corral.peak_rss_mb:.1f} MB (target < 100 MB, flat in the data size)")


if __name__ == "__main__":
    main()
