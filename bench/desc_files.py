#!/usr/bin/env python3
"""desc_files vs plain tar with the same codec, on a generated tree of web sites.

    python bench/desc_files.py                 # ~250 MB, quick
    python bench/desc_files.py --scale 10      # ~2.5 GB

Prints the wall-time ratio corral/tar (target <= 1.10), corral's own peak RSS at two tree sizes (it must not
grow with the tree), and the cost of 100 exclude rules (corral expands them to exact paths; tar's wildcard
--exclude patterns are shown for reference).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml
from common import CORRAL, Measured, make_sites, run_measured


def corral_config(work: Path, www: Path, codec: str, excludes: list[str]) -> Path:
    job = {"job": "sites", "type": "desc_files", "tmp_dir": str(work / "tmp"),
           "sources": [{"target": [f"{www}/*/"], "excludes": excludes, "compression": codec}],
           "storages": [{"storage": "local", "backup_dir": str(work / "backups")}]}
    main = {"main": {"general_path_to_all_tmp_dir": str(work / "tmp"), "log_file_name": str(work / "corral.log")},
            "jobs": [job]}
    path = work / "corral.conf"
    path.write_text(yaml.safe_dump(main))
    return path


def plain_tar(www: Path, out: Path, program: str, excludes: list[str]) -> Measured:
    """The standard tool doing the same work: one tar per site, same codec."""
    script = "set -e\n"
    for site in sorted(www.iterdir()):
        flags = " ".join(f"--exclude='{site.name}/{e}'" for e in excludes)
        script += (f"nice -n 19 ionice -c2 -n7 tar -cf {out}/{site.name}.tar -I '{program}' -C {www} {flags} "
                   f"{site.name}\n")
    path = out.parent / "plain-tar.sh"
    path.write_text(script)
    return run_measured(["bash", str(path)])


def measure(work: Path, www: Path, codec: str, program: str, excludes: list[str]) -> tuple[Measured, Measured]:
    for d in ("backups", "tmp", "plain"):
        shutil.rmtree(work / d, ignore_errors=True)
    (work / "plain").mkdir()
    subprocess.run(["sync"], check=True)
    tar = plain_tar(www, work / "plain", program, excludes)
    subprocess.run(["sync"], check=True)  # the previous run's dirty pages are not the next run's cost
    corral = run_measured([*CORRAL, "start", "-c", str(corral_config(work, www, codec, excludes))])
    assert corral.returncode == 0, (work / "corral.log").read_text()[-2000:]
    return tar, corral


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=1, help="tree size multiplier (1 = ~250 MB)")
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temp dir)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="corral-bench-", dir=args.dir))
    try:
        rss = []
        for scale in (max(1, args.scale // 4), args.scale):
            work = base / f"s{scale}"
            www = work / "www"
            size = make_sites(www, sites=4 * scale, small_files=5000, large_files=2, large_mb=20)
            print(f"tree: {4 * scale} sites, {20000 * scale} small files, {size / 1e6:.0f} MB")
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
