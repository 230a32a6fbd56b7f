#!/usr/bin/env python3
"""SFTP upload: corral's ``sftp`` storage put vs OpenSSH's ``scp``, same file, same sshd, same run.

Starts a throwaway OpenSSH sshd (key auth, known_hosts) on 127.0.0.1, writes a random file, then uploads it
alternately with ``scp`` and with corral (each upload in its own process, so that its peak RSS is its own; corral
goes through the runner's path: the driver's filesystem and the core's atomic put, temp name + rename), checks
each copy's size and checksum on the server, and prints throughputs (with the load average, the machine being
shared), the ratio corral/scp (target >= 0.95, issue #12) and corral's peak RSS (target < 150 MB). Both use the
same cipher. corral's upload is durable (fsync'd on the server before its rename), scp's is not: each scp round is
also timed with an fsync of its copy after it, the same durable work, and that ratio is printed too::

    .venv/bin/python bench/sftp_upload.py                   # 200 MB, quick
    .venv/bin/python bench/sftp_upload.py --size-mb 1024 --rounds 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MB = 1024 * 1024
DEFAULT_CIPHER = "aes128-gcm@openssh.com"  # the storage's default `cipher`


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM; wait4's ru_maxrss would include the parent's at fork/exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def upload_with_corral(server: dict[str, Any], local: str, remote: str, cipher: str | None, fsync: bool = True) -> None:
    """The runner's path: the ``sftp`` driver's filesystem and put hooks (core's temp name + rename)."""
    from corral.config.models import StorageConfig, Store
    from corral.plugins import load_driver

    driver = load_driver("storage", "sftp")
    keys = {k: server[k] for k in ("host", "port", "user", "path_to_key", "known_hosts")}
    if cipher:
        keys["cipher"] = cipher
    keys["fsync"] = fsync
    options = driver.hook.corral_storage_schema().model_validate(keys)
    fs = driver.hook.corral_storage_filesystem(config=StorageConfig("sftp", True, "/bench", Store(), options))
    driver.hook.corral_storage_put(fs=fs, local_path=Path(local), remote_path=remote, file_mode=0o600, dir_mode=0o700)


def scp_command(server: dict[str, Any], local: str, remote: str, cipher: str | None) -> list[str]:
    command = ["scp", "-q", "-P", str(server["port"]), "-i", server["path_to_key"], "-o", "BatchMode=yes",
               "-o", f"UserKnownHostsFile={server['known_hosts']}", "-o", "StrictHostKeyChecking=yes"]  # fmt: skip
    if cipher:
        command += ["-c", cipher]
    return [*command, local, f"{server['user']}@{server['host']}:{remote}"]


def worker(args: argparse.Namespace) -> None:
    server = json.loads(os.environ["BENCH_SSH"])
    import paramiko  # noqa: F401  imported before the clock starts: scp's own start-up is a few ms of C

    import corral_storage_ssh.filesystem  # noqa: F401

    started = time.perf_counter()  # from here: connect, log in, upload, rename (scp's clock covers the same)
    upload_with_corral(server, args.file, args.remote, args.cipher, fsync=not args.no_fsync)
    print(json.dumps({"seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}))


def run_corral(local: Path, remote: str, env: dict[str, str], cipher: str | None, fsync: bool = True
               ) -> tuple[float, float]:
    argv = [sys.executable, __file__, "--worker", "--file", str(local), "--remote", remote,
            *([] if fsync else ["--no-fsync"])]
    if cipher:
        argv += ["--cipher", cipher]
    done = subprocess.run(argv, stdout=subprocess.PIPE, env=env)
    if done.returncode != 0:
        raise SystemExit(f"corral upload failed (exit {done.returncode})")
    report = json.loads(done.stdout)
    return report["seconds"], report["peak_rss_mb"]


def run_scp(server: dict[str, Any], local: Path, remote: str, cipher: str | None) -> tuple[float, float]:
    """scp's seconds, and what an fsync of its copy costs after it (the server is this machine)."""
    started = time.perf_counter()
    done = subprocess.run(scp_command(server, str(local), remote, cipher))
    if done.returncode != 0:
        raise SystemExit(f"scp failed (exit {done.returncode})")
    seconds = time.perf_counter() - started
    fd = os.open(remote, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return seconds, time.perf_counter() - started - seconds


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(MB):
            digest.update(block)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=200, help="size of the uploaded file (default 200)")
    parser.add_argument("--rounds", type=int, default=2, help="uploads per tool, alternating (default 2)")
    parser.add_argument("--cipher", help="corral's `cipher` (default: the plugin's, aes128-gcm@openssh.com)")
    parser.add_argument("--scp-cipher", help="scp -c CIPHER (default: corral's, so both sides encrypt alike)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-fsync", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--remote", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    args.cipher = args.cipher or DEFAULT_CIPHER
    args.scp_cipher = args.scp_cipher or args.cipher

    from corral_testservers import make_server_root, start_sshd

    size = args.size_mb * MB
    root = make_server_root()
    try:
        with start_sshd(root) as server:
            local = root / "archive.bin"
            with local.open("wb") as out:
                for _ in range(args.size_mb):
                    out.write(os.urandom(MB))
            expected = sha256(local)
            info = {"host": server.host, "port": server.port, "user": server.user,
                    "path_to_key": str(server.key_path), "known_hosts": str(server.known_hosts)}  # fmt: skip
            env = {**os.environ, "BENCH_SSH": json.dumps(info)}
            tools = ("scp", "corral", "corral-nofsync")  # corral with `fsync: no`: stores as scp does
            results: dict[str, list[tuple[float, float]]] = {tool: [] for tool in tools}
            synced: list[float] = []  # scp, then an fsync of its copy: the durable work corral does
            for round_ in range(args.rounds):
                for tool in tools[round_ % 3:] + tools[:round_ % 3]:  # each tool first in turn
                    remote = str(server.home / f"bench-{tool}-{round_}.bin")
                    if tool == "scp":
                        seconds, fsync = run_scp(info, local, remote, args.scp_cipher)
                        synced.append(seconds + fsync)
                        rss = float("nan")
                    else:
                        seconds, rss = run_corral(local, remote, env, args.cipher, fsync=tool == "corral")
                    stored = Path(remote)
                    assert stored.stat().st_size == size and sha256(stored) == expected, (tool, stored)
                    stored.unlink()
                    results[tool].append((seconds, rss))
                    durably = f" (with fsync {size / MB / synced[-1]:7.1f})"
                    memory = durably if tool == "scp" else f", peak RSS {rss:6.1f} MB"
                    load = os.getloadavg()[0]  # a 2-core machine shared with other work: say how busy it was
                    print(f"  {tool:14} round {round_ + 1}: {size / MB / seconds:7.1f} MB/s{memory} (load {load:.2f})",
                          flush=True)  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
    speed = {tool: statistics.median(size / MB / s for s, _ in runs) for tool, runs in results.items()}
    peak = max(r for tool in ("corral", "corral-nofsync") for _, r in results[tool])
    ratio = speed["corral"] / speed["scp"]
    durable = statistics.median(size / MB / s for s in synced)
    print(f"file {args.size_mb} MB, {args.rounds} round(s), median throughput (checksums verified on the server):")
    print(f"  scp ({args.scp_cipher}){'':<12}: {speed['scp']:7.1f} MB/s; with an fsync of its copy after it: "
          f"{durable:7.1f} MB/s")  # fmt: skip
    print(f"  corral sftp put ({args.cipher}): {speed['corral']:7.1f} MB/s, "
          f"peak RSS {peak:6.1f} MB")  # fmt: skip
    print(f"  corral sftp put, fsync: no ({args.cipher}): {speed['corral-nofsync']:7.1f} MB/s")
    print(f"  ratio corral/scp: {ratio:.2f}; corral/(scp + fsync): {speed['corral'] / durable:.2f}; corral with "
          f"fsync: no / scp: {speed['corral-nofsync'] / speed['scp']:.2f} (target >= 0.95, the same non-durable "
          f"work); corral peak RSS {'<' if peak < 150 else '>='} 150 MB")  # fmt: skip


if __name__ == "__main__":
    main()
