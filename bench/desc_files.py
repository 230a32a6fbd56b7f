#!/usr/bin/env python3
"""desc_files vs plain tar with the same codec, on a generated tree of web sites.

    python bench/desc_files.py                 # ~250 MB, quick
    python bench/desc_files.py --scale 10      # ~2.5 GB
    python bench/desc_files.py --scale 4 --fsync-cost   # only what fsync costs (needs `eatmydata`)
    python bench/desc_files.py --encrypt-cost           # what `encrypt:` (age) costs, vs tar | zstd | age

Prints the wall-time ratio corral/tar (target <= 1.10), corral's own peak RSS at two tree sizes (it must not
grow with the tree), and the cost of 100 exclude rules (corral expands them to exact paths; tar's wildcard
--exclude patterns are shown for reference). corral fsyncs every archive before renaming it (plain tar does
not); ``--fsync-cost`` compares, in rotating rounds, plain tar, tar followed by ``sync`` of each archive, corral,
corral under ``eatmydata`` (its fsyncs made no-ops), and the standard tools doing corral's whole work (tar's
verbose index, the archive ``tee``'d to ``openssl dgst -sha256``, a ``sync``).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml
from common import CORRAL, Measured, make_sites, run_measured


def corral_config(work: Path, www: Path, codec: str, excludes: list[str], recipient: str = "") -> Path:
    job = {"job": "sites", "type": "desc_files", "tmp_dir": str(work / "tmp"),
           "sources": [{"target": [f"{www}/*/"], "excludes": excludes, "compression": codec}],
           "storages": [{"storage": "local", "backup_dir": str(work / "backups")}]}
    if recipient:
        job["encrypt"] = {"recipients": [recipient]}
    main = {"main": {"general_path_to_all_tmp_dir": str(work / "tmp"), "log_file_name": str(work / "corral.log")},
            "jobs": [job]}
    path = work / "corral.conf"
    path.write_text(yaml.safe_dump(main))
    return path


def plain_tar(www: Path, out: Path, program: str, excludes: list[str], durable: bool = False,
              recipient: str = "", checksum: bool = False) -> Measured:  # fmt: skip
    """The standard tool doing the same work: one tar per site, same codec (``durable``: then ``sync`` each;
    ``recipient``: piped through ``age -r``; ``checksum``: corral's whole work per archive with standard tools:
    tar's verbose index, the compressed stream ``tee``'d to ``openssl dgst -sha256`` (SHA-NI, faster than
    coreutils' sha256sum here), and a ``sync`` of the archive)."""
    script = "set -eo pipefail\n"
    for site in sorted(www.iterdir()):
        flags = " ".join(f"--exclude='{site.name}/{e}'" for e in excludes)
        if checksum:
            script += (f"nice -n 19 ionice -c2 -n7 tar -cf - -vv --index-file=/dev/null -C {www} {flags} {site.name} "
                       f"| nice -n 19 {program} -q -c | tee {out}/{site.name}.tar.zst | nice -n 19 openssl dgst "
                       f"-sha256 > {out}/{site.name}.sha256\nsync {out}/{site.name}.tar.zst\n")
            continue
        if recipient:
            script += (f"nice -n 19 ionice -c2 -n7 tar -cf - -I '{program}' -C {www} {flags} {site.name} | "
                       f"nice -n 19 age -r {recipient} > {out}/{site.name}.tar.age\n")
            continue
        script += (f"nice -n 19 ionice -c2 -n7 tar -cf {out}/{site.name}.tar -I '{program}' -C {www} {flags} "
                   f"{site.name}\n")
        if durable:  # as corral does: each archive's bytes on disk before the next one
            script += f"sync {out}/{site.name}.tar\n"
    path = out.parent / "plain-tar.sh"
    path.write_text(script)
    return run_measured(["bash", str(path)])


def fresh_tar(work: Path, www: Path, program: str, excludes: list[str], durable: bool = False,
              recipient: str = "", checksum: bool = False) -> Measured:  # fmt: skip
    """Plain tar into an empty folder, after a ``sync``."""
    for d in ("backups", "tmp", "plain"):
        shutil.rmtree(work / d, ignore_errors=True)
    (work / "plain").mkdir()
    subprocess.run(["sync"], check=True)
    return plain_tar(www, work / "plain", program, excludes, durable=durable, recipient=recipient,
                     checksum=checksum)


def run_corral(work: Path, www: Path, codec: str, excludes: list[str], wrapper: tuple[str, ...] = (),
               recipient: str = "") -> Measured:  # fmt: skip
    """corral into an empty folder (under ``wrapper``: ``eatmydata`` makes its fsyncs no-ops), after a ``sync``."""
    for d in ("backups", "tmp"):
        shutil.rmtree(work / d, ignore_errors=True)
    subprocess.run(["sync"], check=True)  # the previous run's dirty pages are not the next run's cost
    config = corral_config(work, www, codec, excludes, recipient)
    corral = run_measured([*wrapper, *CORRAL, "start", "-c", str(config)])
    assert corral.returncode == 0, f"exit {corral.returncode}: " + (work / "corral.log").read_text()[-2000:]
    return corral


def measure(work: Path, www: Path, codec: str, program: str, excludes: list[str]) -> tuple[Measured, Measured]:
    """Plain tar, then corral, each after a ``sync``."""
    return fresh_tar(work, www, program, excludes), run_corral(work, www, codec, excludes)


def rotating_medians(runs: dict[str, Callable[[], Measured]], rounds: int) -> dict[str, float]:
    """Each run ``rounds`` times, the order rotating each round (a busy neighbour spreads over all): medians."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for turn in range(rounds):
        for name in names[turn % len(names):] + names[: turn % len(names)]:
            seconds[name].append(runs[name]().seconds)
    return {name: statistics.median(values) for name, values in seconds.items()}


def fsync_cost(work: Path, www: Path, rounds: int) -> None:
    """Medians over ``rounds`` of: plain tar, tar + ``sync`` of each archive, corral, corral under eatmydata (its
    fsyncs made no-ops); the order rotates each round, so that a busy neighbour spreads over all four."""
    runs: dict[str, Callable[[], Measured]] = {
        "tar": lambda: fresh_tar(work, www, "zstd -T0 -3", []),
        "tar + sync": lambda: fresh_tar(work, www, "zstd -T0 -3", [], durable=True),
        "tar, same work": lambda: fresh_tar(work, www, "zstd -T0 -3", [], checksum=True),
        "corral": lambda: run_corral(work, www, "zstd", []),
        "corral, no fsync": lambda: run_corral(work, www, "zstd", [], wrapper=("eatmydata",)),
    }
    median = rotating_medians(runs, rounds)
    print(f"  fsync cost (zstd, medians of {rounds}): " + ", ".join(f"{n} {m:.2f} s" for n, m in median.items()))
    print(f"  corral / tar: {median['corral'] / median['tar']:.3f} with fsync, "
          f"{median['corral, no fsync'] / median['tar']:.3f} without; fsync costs "
          f"x{median['corral'] / median['corral, no fsync']:.3f}; corral / (tar + sync): "
          f"{median['corral'] / median['tar + sync']:.3f}; corral / the same work by standard tools (index, "
          f"checksum, sync): {median['corral'] / median['tar, same work']:.3f}")


def encrypt_cost(work: Path, www: Path, rounds: int) -> None:
    """Medians over ``rounds`` of corral with and without ``encrypt:``, and of ``tar | zstd | age`` (the standard
    tools doing the encrypted work), in rotating order."""
    key = subprocess.run(["age-keygen"], capture_output=True, text=True, check=True).stdout
    recipient = next(line.split(": ", 1)[1] for line in key.splitlines() if line.startswith("# public key: "))
    runs: dict[str, Callable[[], Measured]] = {
        "tar | age": lambda: fresh_tar(work, www, "zstd -T0 -3", [], recipient=recipient),
        "corral": lambda: run_corral(work, www, "zstd", []),
        "corral + encrypt": lambda: run_corral(work, www, "zstd", [], recipient=recipient),
    }
    median = rotating_medians(runs, rounds)
    print(f"  encrypt cost (zstd, medians of {rounds}): " + ", ".join(f"{n} {m:.2f} s" for n, m in median.items()))
    print(f"  corral + encrypt / corral: {median['corral + encrypt'] / median['corral']:.3f}; "
          f"corral + encrypt / (tar | age): {median['corral + encrypt'] / median['tar | age']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=1, help="tree size multiplier (1 = ~250 MB)")
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--fsync-cost", action="store_true",
                        help="only measure what fsync costs, at --scale (needs eatmydata)")
    parser.add_argument("--encrypt-cost", action="store_true", help="only measure what `encrypt:` costs (needs age)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of --fsync-cost / --encrypt-cost (medians)")
    args = parser.parse_args()
    if args.fsync_cost and not shutil.which("eatmydata"):
        parser.error("--fsync-cost needs `eatmydata` (apt install eatmydata)")
    base = Path(tempfile.mkdtemp(prefix="corral-bench-", dir=args.dir))
    try:
        rss = []
        for scale in (max(1, args.scale // 4), args.scale):
            work = base / f"s{scale}"
            www = work / "www"
            if (args.fsync_cost or args.encrypt_cost) and scale != args.scale:
                continue
            size = make_sites(www, sites=4 * scale, small_files=5000, large_files=2, large_mb=20)
            print(f"tree: {4 * scale} sites, {20000 * scale} small files, {size / 1e6:.0f} MB")
            if args.fsync_cost:
                fsync_cost(work, www, args.rounds)
                return
            if args.encrypt_cost:
                encrypt_cost(work, www, args.rounds)
                return
            for codec, program in (("zstd", "zstd -T0 -3"), ("gzip", "pigz" if shutil.which("pigz") else "gzip")):
                tar, corral = measure(work, www, codec, program, [])
                print(f"  {codec:5} tar {tar.seconds:6.2f} s   corral {corral.seconds:6.2f} s   "
                      f"ratio {corral.seconds / tar.seconds:.3f}   corral peak RSS {corral.peak_rss_mb:.0f} MB")
                rss.append(corral.peak_rss_mb)
            excludes = [f"dir{n}/sub{m}" for n in range(15) for m in range(7)][:100]
            tar_ex, corral_ex = measure(work, www, "zstd", "zstd -T0 -3", excludes)
            _, corral_none = measure(work, www, "zstd", "zstd -T0 -3", [])
            print(f"  100 excludes: corral {corral_ex.seconds:.2f} s vs {corral_none.seconds:.2f} s without "
                  f"(x{corral_ex.seconds / corral_none.seconds:.2f}); tar --exclude wildcards {tar_ex.seconds:.2f} s")
            if scale == args.scale:
                break
        print(f"corral peak RSS across tree sizes: {', '.join(f'{r:.0f}' for r in rss)} MB")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
