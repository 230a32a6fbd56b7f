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
import contextlib
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import yaml
from common import CORRAL, Measured, run_measured
from cpu_groups import ROOT, CpuGroup, available, cpu_groups, listeners
from postgresql_dump import DB, LOW_PRIORITY, fill
from sftp_upload import scp_command

from corral_testservers import make_server_root, start_postgres, start_s3, start_sshd


def corral_config(work: Path, pg: Any, sshd: Any, s3: Any, kinds: list[str], s3_extra: dict[str, Any]) -> Path:
    connect = {"db_host": pg.host, "db_port": pg.port, "db_user": pg.user, "db_password": pg.password}
    storages = [
        {"storage": "local", "backup_dir": str(work / "local")},
        {"storage": "sftp", "backup_dir": str(sshd.home / "bench"), "host": sshd.host, "port": sshd.port,
         "user": sshd.user, "path_to_key": str(sshd.key_path), "known_hosts": str(sshd.known_hosts)},
        {"storage": "s3", "backup_dir": "/bench", "bucket": s3.bucket, "endpoint_url": s3.endpoint_url,
         "region": s3.region, "access_key_id": s3.access_key, "secret_access_key": s3.secret_key, **s3_extra},
    ]
    storages = [storage for storage in storages if storage["storage"] in kinds]
    job = {"job": "pg", "type": "postgresql", "tmp_dir": str(work / "small-tmp" / "pg"),
           "sources": [{"connect": connect, "target": [DB], "compression": "zstd"}], "storages": storages}
    main = {"main": {"general_path_to_all_tmp_dir": str(work / "small-tmp"), "log_file_name": str(work / "corral.log"),
                     "lock_file": str(work / "corral.lock")}, "jobs": [job]}
    path = work / "corral.conf"
    path.write_text(yaml.safe_dump(main))
    return path


class Cpu:
    """CPU seconds of the client and the servers for each measurement (nothing when cgroups are not there)."""

    def __init__(self, groups: dict[str, CpuGroup] | None) -> None:
        self.groups = groups or {}
        self.spent: dict[str, tuple[float, float]] = {}
        self._start = (0.0, 0.0)

    def command(self, argv: list[str]) -> list[str]:
        return self.groups["client"].command(argv) if self.groups else argv

    def _now(self) -> tuple[float, float]:
        return (self.groups["client"].seconds(), self.groups["servers"].seconds()) if self.groups else (0.0, 0.0)

    def begin(self) -> None:
        self._start = self._now()

    def end(self, name: str) -> None:
        now = self._now()
        self.spent[name] = (now[0] - self._start[0], now[1] - self._start[1])

    def line(self, name: str, seconds: float) -> str:
        if name not in self.spent or not self.groups:
            return ""
        client, servers = self.spent[name]
        return (f" [cpu: client {client:.1f} s, servers {servers:.1f} s; {(client + servers) / seconds:.2f} "
                f"of {os.cpu_count()} cores busy]")


def timed(command: str, cpu: Cpu, name: str, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    cpu.begin()
    subprocess.run(cpu.command(["bash", "-o", "pipefail", "-c", command]), check=True,
                   env={**os.environ, **(env or {})})
    cpu.end(name)
    return time.perf_counter() - started


UPLOAD_STDIN = (
    "import os, sys, boto3; boto3.client('s3', endpoint_url=os.environ['S3_URL'], region_name=os.environ['S3_REGION'], "
    "aws_access_key_id=os.environ['S3_KEY'], aws_secret_access_key=os.environ['S3_SECRET'])"
    ".upload_fileobj(sys.stdin.buffer, os.environ['S3_BUCKET'], 'bench/tee.dump.zst')"
)


def s3_env(s3: Any) -> dict[str, str]:
    """The S3 server's address and keys for the boto3 one-liner, in its environment (never in its arguments)."""
    return {"S3_URL": s3.endpoint_url, "S3_REGION": s3.region, "S3_KEY": s3.access_key, "S3_SECRET": s3.secret_key,
            "S3_BUCKET": s3.bucket}


def at_once(dump: str, work: Path, sshd: Any, s3: Any) -> str:
    """The same work as corral's, by standard tools: one dump, tee'd to a checksum, ssh, boto3 and a local file
    (synced, as corral's is)."""
    ssh = ["ssh", "-p", str(sshd.port), "-i", str(sshd.key_path), "-o", "BatchMode=yes",
           "-o", f"UserKnownHostsFile={sshd.known_hosts}", "-o", "StrictHostKeyChecking=yes",
           f"{sshd.user}@{sshd.host}", "cat > tee.dump.zst"]  # fmt: skip
    local, fifos = work / "tee.dump.zst", [work / f"tee-{leg}" for leg in ("sum", "ssh", "s3")]
    upload = shlex.join([sys.executable, "-c", UPLOAD_STDIN])
    readers = [f"sha256sum < {fifos[0]} > /dev/null", f"{shlex.join(ssh)} < {fifos[1]}", f"{upload} < {fifos[2]}"]
    return (f"mkfifo {' '.join(map(str, fifos))} && pids= && "
            + "".join(f"{{ {reader} & }} && pids=\"$pids $!\" && " for reader in readers)
            + f"{dump} | tee {' '.join(map(str, fifos))} > {local} && sync {local} && "
            f"for pid in $pids; do wait $pid || exit 1; done")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--profile", type=Path, help="py-spy of corral into this file (stacks holding the GIL)")
    parser.add_argument("--s3-option", action="append", default=[], help="KEY=VALUE for the s3 storage")
    parser.add_argument("--log", action="store_true", help="print corral's log")
    parser.add_argument("--storages", default="local,sftp,s3", help="which of local, sftp, s3 corral stores on")
    args = parser.parse_args()
    root = make_server_root()
    groups = cpu_groups("client", "servers") if available() else contextlib.nullcontext(None)
    with start_postgres(root) as pg, start_sshd(root) as sshd, start_s3(root) as s3, groups as found, \
            tempfile.TemporaryDirectory(prefix="corral-bench-stream-") as tmp:  # fmt: skip
        cpu = Cpu(found)
        if found:
            for pid in listeners([pg.port, sshd.port, urlparse(s3.endpoint_url).port or 80]):
                found["servers"].add(pid)
        work = Path(tmp)
        size = fill(pg, args.size_mb)
        print(f"database: {size / 2**20:.0f} MiB on disk")
        small = work / "small-tmp"
        small.mkdir(mode=0o700)
        s3_extra = {key: yaml.safe_load(value) for key, value in (option.split("=", 1) for option in args.s3_option)}
        config = corral_config(work, pg, sshd, s3, args.storages.split(","), s3_extra)
        spy = ["py-spy", "record", "-r", "250", "--threads", "--gil", "-f", "raw", "-o", str(args.profile), "--"] \
            if args.profile else []
        inner = (f"mount -t tmpfs -o size=64m,mode=0700 none {small} && "
                 f"exec {shlex.join([*spy, *CORRAL, 'start', '-q', '-c', str(config)])}")
        cpu.begin()
        corral: Measured = run_measured(cpu.command(["unshare", "-m", "sh", "-c", inner]))
        cpu.end("corral")
        log = (work / "corral.log").read_text()
        assert corral.returncode == 0, log[-3000:]
        stored = [line for line in log.splitlines() if "stored `" in line]
        if args.log:
            print(log)
        print(f"corral, storages {args.storages}, tmp_dir on 64 MiB: {corral.seconds:.1f} s, peak RSS "
              f"{corral.peak_rss_mb:.0f} MB ({len(stored)} copies){cpu.line('corral', corral.seconds)}")
        env = {"PGPASSWORD": pg.password}
        nice = shlex.join(LOW_PRIORITY)
        dump = (f"{nice} {pg.bin_dir / 'pg_dump'} -h {pg.host} -p {pg.port} -U {pg.user} -Fc -Z0 {DB} | "
                f"{nice} zstd -T0 -3")
        first = "dump (pg_dump | zstd > /dev/null)"
        legs = {first: timed(f"{dump} > /dev/null", cpu, first, env)}
        archive = work / "made.dump.zst"
        timed(f"{dump} > {archive}", cpu, "dump to file", env)
        server = {"host": sshd.host, "port": sshd.port, "user": sshd.user, "path_to_key": str(sshd.key_path),
                  "known_hosts": str(sshd.known_hosts)}
        legs["scp of the finished file"] = timed(shlex.join(scp_command(server, str(archive), "bench.dump.zst", None)),
                                                 cpu, "scp of the finished file")
        client = boto3.client("s3", **s3.client_kwargs())
        if found:
            found["client"].add(os.getpid())
        started = time.perf_counter()
        cpu.begin()
        client.upload_file(str(archive), s3.bucket, "bench/by-hand.dump.zst")
        cpu.end("boto3 upload_file")
        legs["boto3 upload_file"] = time.perf_counter() - started
        if found:
            (ROOT / "cgroup.procs").write_text(f"{os.getpid()}\n")
        for name, seconds in legs.items():
            print(f"  {name}: {seconds:.1f} s{cpu.line(name, seconds)}")
        tools = "standard tools at once (dump | tee >(sha256sum) >(ssh cat) >(boto3 from stdin) > local; sync)"
        together = timed(at_once(dump, work, sshd, s3), cpu, tools, {**env, **s3_env(s3)})
        print(f"  {tools}: {together:.1f} s{cpu.line(tools, together)}")
        slowest = max(legs.values())
        print(f"archive {archive.stat().st_size / 2**20:.0f} MiB; corral / slowest leg: "
              f"{corral.seconds / slowest:.3f}; corral / sum of legs: {corral.seconds / sum(legs.values()):.3f}; "
              f"corral / standard tools at once: {corral.seconds / together:.3f}")


if __name__ == "__main__":
    main()
