#!/usr/bin/env python3
"""A PostgreSQL dump streamed to local + SFTP + S3 at once, with ``tmp_dir`` on a 64 MiB tmpfs, vs each leg alone.

The issue's measurement of streaming (#12): a throwaway PostgreSQL filled with ``--size-mb`` of rows, a throwaway
OpenSSH sshd and SeaweedFS; corral's ``postgresql`` job (zstd) stores the dump on the three storages at once with
its work folder on a 64 MiB tmpfs (in a private mount namespace: the dump never fits there, it must stream). The
legs alone, by the standard tools: ``pg_dump -Fc -Z0 | zstd -T0 -3 > /dev/null`` (the dump), then, from the
finished file, ``scp`` and boto3's ``upload_file``. Prints each time, corral / slowest leg (target <= 1.10, never
the sum) and corral's peak RSS (target < 150 MB)::

    .venv/bin/python bench/stream_three.py                  # 256 MB of table data
    .venv/bin/python bench/stream_three.py --size-mb 1024   # the issue's size
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import yaml
from common import CORRAL, Measured, run_measured
from postgresql_dump import DB, LOW_PRIORITY, fill
from sftp_upload import scp_command

from corral_testservers import make_server_root, start_postgres, start_s3, start_sshd


def corral_config(work: Path, pg: Any, sshd: Any, s3: Any, kinds: list[str]) -> Path:
    connect = {"db_host": pg.host, "db_port": pg.port, "db_user": pg.user, "db_password": pg.password}
    storages = [
        {"storage": "local", "backup_dir": str(work / "local")},
        {"storage": "sftp", "backup_dir": str(sshd.home / "bench"), "host": sshd.host, "port": sshd.port,
         "user": sshd.user, "path_to_key": str(sshd.key_path), "known_hosts": str(sshd.known_hosts)},
        {"storage": "s3", "backup_dir": "/bench", "bucket": s3.bucket, "endpoint_url": s3.endpoint_url,
         "region": s3.region, "access_key_id": s3.access_key, "secret_access_key": s3.secret_key},
    ]
    storages = [storage for storage in storages if storage["storage"] in kinds]
    job = {"job": "pg", "type": "postgresql", "tmp_dir": str(work / "small-tmp" / "pg"),
           "sources": [{"connect": connect, "target": [DB], "compression": "zstd"}], "storages": storages}
    main = {"main": {"general_path_to_all_tmp_dir": str(work / "small-tmp"), "log_file_name": str(work / "corral.log"),
                     "lock_file": str(work / "corral.lock")}, "jobs": [job]}
    path = work / "corral.conf"
    path.write_text(yaml.safe_dump(main))
    return path


def timed(command: str, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True, env={**os.environ, **(env or {})})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--storages", default="local,sftp,s3", help="which of local, sftp, s3 corral stores on")
    args = parser.parse_args()
    root = make_server_root()
    with start_postgres(root) as pg, start_sshd(root) as sshd, start_s3(root) as s3, \
            tempfile.TemporaryDirectory(prefix="corral-bench-stream-") as tmp:  # fmt: skip
        work = Path(tmp)
        size = fill(pg, args.size_mb)
        print(f"database: {size / 2**20:.0f} MiB on disk")
        small = work / "small-tmp"
        small.mkdir(mode=0o700)
        config = corral_config(work, pg, sshd, s3, args.storages.split(","))
        inner = (f"mount -t tmpfs -o size=64m,mode=0700 none {small} && "
                 f"exec {shlex.join([*CORRAL, 'start', '-q', '-c', str(config)])}")
        corral: Measured = run_measured(["unshare", "-m", "sh", "-c", inner])
        log = (work / "corral.log").read_text()
        assert corral.returncode == 0, log[-3000:]
        stored = [line for line in log.splitlines() if "stored `" in line]
        print(f"corral, storages {args.storages}, tmp_dir on 64 MiB: {corral.seconds:.1f} s, peak RSS "
              f"{corral.peak_rss_mb:.0f} MB ({len(stored)} copies)")
        env = {"PGPASSWORD": pg.password}
        nice = shlex.join(LOW_PRIORITY)
        dump = (f"{nice} {pg.bin_dir / 'pg_dump'} -h {pg.host} -p {pg.port} -U {pg.user} -Fc -Z0 {DB} | "
                f"{nice} zstd -T0 -3")
        legs = {"dump (pg_dump | zstd > /dev/null)": timed(f"{dump} > /dev/null", env)}
        archive = work / "made.dump.zst"
        timed(f"{dump} > {archive}", env)
        server = {"host": sshd.host, "port": sshd.port, "user": sshd.user, "path_to_key": str(sshd.key_path),
                  "known_hosts": str(sshd.known_hosts)}
        legs["scp of the finished file"] = timed(shlex.join(scp_command(server, str(archive), "bench.dump.zst", None)))
        client = boto3.client("s3", **s3.client_kwargs())
        started = time.perf_counter()
        client.upload_file(str(archive), s3.bucket, "bench/by-hand.dump.zst")
        legs["boto3 upload_file"] = time.perf_counter() - started
        for name, seconds in legs.items():
            print(f"  {name}: {seconds:.1f} s")
        slowest = max(legs.values())
        print(f"archive {archive.stat().st_size / 2**20:.0f} MiB; corral / slowest leg: "
              f"{corral.seconds / slowest:.3f}; corral / sum of legs: {corral.seconds / sum(legs.values()):.3f}")


if __name__ == "__main__":
    main()
