#!/usr/bin/env python3
"""inc_files vs plain ``tar --listed-incremental`` on a tree with one huge site.

    python bench/inc_files.py                  # 1 site of 10k dirs / 40k files + 3 ordinary sites
    python bench/inc_files.py --big            # the issue's size: 50k dirs / 200k files + 40 ordinary sites
    python bench/inc_files.py --big --sites 3  # the big site with only 3 small ordinary sites (~0.5 GB)

With ``--big`` the tree is about the size of the issue's reference (2.7 GB with one 50,000-directory site).

Measures, in the same run: the first (full) run and incremental runs (``--rounds``, median reported), each after
~1% of files changed and 1,000 were added, each against plain tar (one tar per site, zstd, listed-incremental);
the same incremental with 100 exclude rules; corral's own peak RSS. Targets: ratio <= 1.15, 100 excludes <= 1.1x,
memory flat.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

import yaml
from common import CORRAL, Measured, make_sites, run_measured


def big_site(root: Path, dirs: int, files: int) -> None:
    rng = random.Random(5)
    for d in range(dirs):
        folder = root / f"d{d // 1000}" / f"sub{d}"
        folder.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        d = f % dirs
        (root / f"d{d // 1000}" / f"sub{d}" / f"img{f}.jpg").write_bytes(rng.randbytes(rng.randint(100, 4000)))


def mutate(www: Path, big: Path, files: int, small_files: int, rng: random.Random) -> None:
    """~1% of the files changed (in the big site and in every ordinary site), 1,000 files added."""
    for f in rng.sample(range(files), files // 100):
        d = f % max(1, files // 4)
        path = big / f"d{d // 1000}" / f"sub{d}" / f"img{f}.jpg"
        if path.exists():
            path.write_bytes(os.urandom(2000))
    for site in (s for s in www.iterdir() if s != big):
        for f in rng.sample(range(small_files), small_files // 100):
            path = site / f"dir{f % 50}" / f"sub{f % 7}" / f"file{f}.php"  # make_sites' layout
            with path.open("ab") as changed:
                changed.write(b" // changed")
    for n in range(1000):
        folder = big / "d0" / f"sub{n % 50}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"new{n}.jpg").write_bytes(os.urandom(1500))


def config(work: Path, www: Path, excludes: list[str]) -> Path:
    job = {"job": "inc", "type": "inc_files",
           "sources": [{"target": [f"{www}/*/"], "excludes": excludes, "compression": "zstd"}],
           "storages": [{"storage": "local", "backup_dir": str(work / "backups")}]}
    main = {"main": {"general_path_to_all_tmp_dir": str(work / "tmp"), "log_file_name": str(work / "corral.log")},
            "jobs": [job]}
    path = work / "corral.conf"
    path.write_text(yaml.safe_dump(main))
    return path


def plain_tar(www: Path, out: Path, snars: Path, level: str, base: str | None) -> Measured:
    """One tar per site with its own snapshot file, niced like corral's dumps."""
    script = "set -e\n"
    for site in sorted(www.iterdir()):
        snar = snars / f"{site.name}.{level}.snar"
        if base:
            script += f"cp {snars}/{site.name}.{base}.snar {snar}\n"
        script += (f"nice -n 19 ionice -c2 -n7 tar -cf {out}/{site.name}.{level}.tar.zst -I 'zstd -T0 -3' "
                   f"--listed-incremental={snar} --no-check-device -C {www} {site.name}\n")
    subprocess.run(["sync"], check=True)
    return run_measured(["bash", "-c", script])


def corral_run(cfg: Path, date: str, time: str = "03:00:00") -> Measured:
    subprocess.run(["sync"], check=True)
    measured = run_measured([*CORRAL, "start", "-c", str(cfg)], env={"CORRAL_NOW": f"{date}T{time}"})
    assert measured.returncode == 0, (cfg.parent / "corral.log").read_text()[-3000:]
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big", action="store_true", help="50k directories, 200k files in one site")
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=3, choices=range(1, 9),
                        help="incremental rounds, on the 2nd to the 9th (median reported)")
    parser.add_argument("--sites", type=int, default=None, help="ordinary sites (default 3; 40 with --big)")
    args = parser.parse_args()
    dirs, files = (50_000, 200_000) if args.big else (10_000, 40_000)
    sites = args.sites if args.sites is not None else (40 if args.big else 3)
    small_files = 5000 if args.big else 3000
    work = Path(tempfile.mkdtemp(prefix="corral-bench-inc-", dir=args.dir))
    try:
        www = work / "www"
        big_site(www / "huge-site", dirs, files)
        size = make_sites(www, sites=sites, small_files=small_files, large_files=2, large_mb=20)
        size += sum(p.stat().st_size for p in (www / "huge-site").rglob("*.jpg"))
        print(f"tree: one site with {dirs} dirs / {files} files + {sites} ordinary sites of {small_files} files; "
              f"{size / 1e9:.2f} GB")
        out, snars = work / "plain", work / "snars"
        out.mkdir()
        snars.mkdir()
        cfg = config(work, www, [])
        tar_full = plain_tar(www, out, snars, "full", None)
        corral_full = corral_run(cfg, "2026-01-01")
        print(f"  full:        tar {tar_full.seconds:6.2f} s  corral {corral_full.seconds:6.2f} s  "
              f"ratio {corral_full.seconds / tar_full.seconds:.3f}  corral RSS {corral_full.peak_rss_mb:.0f} MB")
        ratios = []
        for day in range(2, 2 + args.rounds):
            mutate(www, www / "huge-site", files, small_files, random.Random(day))
            tar_inc = plain_tar(www, out, snars, f"day{day}", "full")
            corral_inc = corral_run(cfg, f"2026-01-{day:02d}")
            ratios.append(corral_inc.seconds / tar_inc.seconds)
            print(f"  incremental: tar {tar_inc.seconds:6.2f} s  corral {corral_inc.seconds:6.2f} s  "
                  f"ratio {ratios[-1]:.3f}  corral RSS {corral_inc.peak_rss_mb:.0f} MB")
        print(f"  incremental median ratio {statistics.median(ratios):.3f} over {len(ratios)} rounds")
        excludes = [f"d{n % 50}/sub{n}" for n in range(100)]
        with_rules, without = [], []
        # all on the 10th: every run is then a daily level on the same base (the full of the 1st) with the same
        # changes; the 11th would start a decade level, and the day after it would be nearly empty
        for hour in range(4, 10, 2):  # interleaved, best of three: the difference is small against the noise
            with_rules.append(corral_run(config(work, www, excludes), "2026-01-10", f"{hour:02d}:00:00").seconds)
            without.append(corral_run(config(work, www, []), "2026-01-10", f"{hour + 1:02d}:00:00").seconds)
        print(f"  100 excludes: {min(with_rules):.2f} s vs {min(without):.2f} s without "
              f"(x{min(with_rules) / min(without):.2f}, best of 3 each)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
