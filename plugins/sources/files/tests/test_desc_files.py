"""desc_files through the real corral command; archives checked with the system tar."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from corral.testing.cli import corral, local_storage, write_main
from corral.testing.trees import snapshot


def make_site(root: Path, name: str) -> Path:
    site = root / name
    (site / "bitrix" / "cache").mkdir(parents=True)
    (site / "bitrix" / "admin").mkdir(parents=True)
    (site / "upload" / "2026").mkdir(parents=True)
    (site / "index.php").write_text(f"<?php echo '{name}';\n")
    (site / "bitrix" / "cache" / "junk.cache").write_bytes(os.urandom(1000))
    (site / "bitrix" / "admin" / "секрет.php").write_text("unicode name\n")
    (site / "upload" / "2026" / "photo.jpg").write_bytes(os.urandom(50_000))
    (site / "debug.log").write_text("log\n")
    (site / "logs").mkdir()
    (site / "logs" / "deep.log").write_text("deep\n")
    (site / "run.sh").write_text("#!/bin/sh\n")
    (site / "run.sh").chmod(0o750)
    (site / "link-to-index").symlink_to("index.php")
    (site / "dangling").symlink_to("/nonexistent/target")
    os.utime(site / "index.php", (1_600_000_000, 1_600_000_000))
    if os.geteuid() == 0:
        os.chown(site / "run.sh", 65534, 65534)  # owned by nobody: tar keeps owners
    return site


def extract(archive: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-xf", str(archive), "-C", str(dest)], check=True)
    return dest


def job(name: str, source: dict, backup_dir: Path) -> dict:
    return {"job": name, "type": "desc_files", "sources": [source], "storages": [local_storage(backup_dir)]}


@pytest.mark.parametrize(("options", "extension"), [({"gzip": True}, "tar.gz"), ({"compression": "zstd"}, "tar.zst"),
                                                    ({}, "tar")])
def test_one_archive_per_site_matching_the_source(tmp_path: Path, options: dict, extension: str) -> None:
    www = tmp_path / "www"
    for name in ("shop-1.ru", "shop-2.ru"):
        make_site(www, name)
    source = {"target": [f"{www}/*/"], "excludes": ["bitrix/cache", "upload", "*.log", f"{www}/shop-2.ru/run.sh"],
              **options}
    backups = tmp_path / "backups"
    main = write_main(tmp_path, [job("sites", source, backups)])
    done = corral("start", "-c", str(main), env={"CORRAL_NOW": "2026-03-01T03:00:00"})
    assert done.returncode == 0, done.stderr
    for name in ("shop-1.ru", "shop-2.ru"):
        archive = backups / "sites" / name / f"{name}_2026-03-01_03-00-00.{extension}"
        restored = extract(archive, tmp_path / "restored" / name) / name
        expected = snapshot(www / name)
        for excluded in ("bitrix/cache", "bitrix/cache/junk.cache", "upload", "upload/2026", "upload/2026/photo.jpg",
                         "debug.log"):
            expected.pop(excluded)
        if name == "shop-2.ru":
            expected.pop("run.sh")
        assert snapshot(restored) == expected
        assert "logs/deep.log" in expected  # a relative glob applies at the target's top level only
    assert not any((tmp_path / "tmp").rglob("*.tar*")), "tmp_dir is cleaned"


def test_a_match_is_named_by_what_its_glob_matched_and_keeps_its_name_as_sites_come(tmp_path: Path) -> None:
    srv = tmp_path / "srv"
    for parent in ("shop", "blog"):
        (srv / parent / "upload").mkdir(parents=True)
        (srv / parent / "upload" / "f").write_text(parent)
    (tmp_path / "other" / "upload").mkdir(parents=True)  # a literal target ending in the same folder name
    source = {"target": [f"{srv}/*/upload/", f"{srv}/nothing-here/*"], "name": "sites"}
    backups = tmp_path / "backups"
    main = write_main(tmp_path, [job("data", source, backups),
                                 job("lone", {"target": [f"{srv}/shop/upload", f"{tmp_path}/other/upload"]}, backups)])
    done = corral("start", "-v", "-c", str(main), "data", env={"CORRAL_NOW": "2026-03-01T03:00:00"})
    assert done.returncode == 1
    assert sorted(p.parent.name for p in (backups / "data").rglob("*.tar")) == ["blog", "shop"]
    assert f"sites: target {srv}/nothing-here/*: target matches no file or folder" in done.stderr  # name:, not source 1

    (srv / "news" / "upload").mkdir(parents=True)  # a new site renames no other: shop's chain and retention go on
    done = corral("start", "-v", "-c", str(main), "data", env={"CORRAL_NOW": "2026-03-02T03:00:00"})
    assert sorted({p.parent.name for p in (backups / "data").rglob("*.tar")}) == ["blog", "news", "shop"]

    done = corral("start", "-c", str(main), "lone")  # two literal paths named `upload`: both by their whole path
    assert done.returncode == 0, done.stderr
    prefix = str(tmp_path).strip("/").replace("/", "_")
    assert sorted(p.parent.name for p in (backups / "lone").rglob("*.tar")) == [f"{prefix}_other_upload",
                                                                              f"{prefix}_srv_shop_upload"]


def test_file_changing_while_read_is_a_warning(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    growing = site / "growing.log"
    growing.write_bytes(os.urandom(64 * 1024 * 1024))
    stop = threading.Event()

    def append() -> None:
        with growing.open("ab") as handle:
            while not stop.is_set():
                handle.write(b"x" * 4096)
                handle.flush()
                time.sleep(0.0005)

    writer = threading.Thread(target=append)
    writer.start()
    try:
        main = write_main(tmp_path, [job("growing", {"target": [str(site)]}, tmp_path / "backups")])
        done = corral("start", "-v", "-c", str(main))
    finally:
        stop.set()
        writer.join()
    assert done.returncode == 0, done.stderr
    assert "[WARNING] [growing] target site: tar: site/growing.log: file changed as we read it" in done.stderr
    assert len(list((tmp_path / "backups").rglob("*.tar"))) == 1


@pytest.mark.parametrize(("source", "said"), [
    ({"target": ["*"]}, "`*` is not an absolute path"),
    ({"target": ["/srv/*/"], "name": "www\nwww OK 1 0.0s"}, "must be printable"),
])  # fmt: skip
def test_a_relative_target_or_an_unprintable_name_is_refused_by_check(tmp_path: Path, source: dict,
                                                                      said: str) -> None:
    done = corral("check", "-c", str(write_main(tmp_path, [job("data", source, tmp_path / "backups")])))
    assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr, done.stderr
