"""inc_files through the real corral command over a simulated calendar, restored and compared."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corral.cli import app
from corral.testing.cli import corral, local_storage, write_main
from corral.testing.trees import snapshot

CALENDAR = ["2025-12-28", "2025-12-30", "2026-01-01", "2026-01-02", "2026-01-05", "2026-01-11", "2026-01-12",
            "2026-01-21", "2026-01-25", "2026-02-01", "2026-02-03", "2026-02-11", "2026-02-12"]


class Site:
    """A web site that changes between runs: files added, changed, deleted, modes, symlinks, folders."""

    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.counter = 0
        for folder in ("upload", "upload/2025", "bitrix/cache", "css"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        for _ in range(30):
            self.add()
        (root / "bitrix" / "cache" / "c.tmp").write_text("cache")
        (root / "current").symlink_to("css")

    def files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file() and not p.is_symlink() and "cache" not in p.parts)

    def add(self) -> None:
        self.counter += 1
        folder = self.rng.choice(["upload", "upload/2025", "css", "."])
        path = self.root / folder / f"f{self.counter}-ü.bin"
        path.write_bytes(os.urandom(self.rng.randint(0, 20_000)))
        os.utime(path, ns=(1_700_000_000_000_000_000 + self.counter * 10**9,) * 2)

    def change(self) -> None:
        for path in self.rng.sample(self.files(), 3):
            path.write_bytes(path.read_bytes()[::-1] + b"changed")
        victim = self.rng.choice(self.files())
        victim.chmod(0o600 if victim.stat().st_mode & 0o077 else 0o644)
        for path in self.rng.sample(self.files(), 2):
            path.unlink()
        for _ in range(4):
            self.add()
        link = self.root / "current"
        link.unlink()
        link.symlink_to(self.rng.choice(["css", "upload", "missing-target"]))
        if self.counter % 3 == 0:
            shutil.rmtree(self.root / "css", ignore_errors=True)
            (self.root / "css").mkdir()
            (self.root / "css" / f"new{self.counter}.css").write_text("body{}")


def inc_job(www: Path, storages: list[dict]) -> dict:
    return {"job": "inc", "type": "inc_files", "sources": [{"target": [f"{www}/*/"], "excludes": ["bitrix/cache"],
                                                            "gzip": True}], "storages": storages}


def restore(main: Path, target: str, date: str, dest: Path, storage: str | None = None) -> None:
    """``corral restore`` in-process (the same CLI as the subprocess runs, without a Python start per call)."""
    args = ["restore", "inc", "--target", target, "--date", date, "--to", str(dest), "-c", str(main)]
    done = CliRunner().invoke(app, [*args, *(["--storage", storage] if storage else [])])
    assert done.exit_code == 0, done.output


def expected_state(site: Site) -> dict:
    state = snapshot(site.root)
    return {k: v for k, v in state.items() if k != "bitrix/cache" and not k.startswith("bitrix/cache/")}


def run_day(main: Path, date: str, tmp_root: Path) -> subprocess.CompletedProcess[str]:
    done = corral("start", "-v", "-c", str(main), env={"CORRAL_NOW": f"{date}T03:00:00"})
    shutil.rmtree(tmp_root, ignore_errors=True)  # no local state survives between runs
    return done


def test_calendar_across_a_year_boundary_restores_every_date(tmp_path: Path) -> None:
    www = tmp_path / "www"
    sites = {name: Site(www / name, seed) for seed, name in enumerate(["shop.ru", "blog.ru"])}
    backups = tmp_path / "backups"
    main = write_main(tmp_path, [inc_job(www, [local_storage(backups)])])
    history: dict[str, dict[str, dict]] = {}
    rng = random.Random(7)
    for index, date in enumerate(CALENDAR):
        if index:
            for site in sites.values():
                site.change()
        done = run_day(main, date, tmp_path / "tmp")
        assert done.returncode == 0, done.stderr
        history[date] = {name: expected_state(site) for name, site in sites.items()}
        checks = [(date, name) for name in sites] + [(rng.choice(sorted(history)), rng.choice(sorted(sites)))]
        for position, (check, name) in enumerate(checks):  # the random check may repeat one: a folder each
            dest = tmp_path / "restored" / f"{check}-{index}-{position}-{name}"
            restore(main, name, check, dest)
            assert snapshot(dest / name) == history[check][name], f"{name} as of {check} after {date}"
    levels = sorted(p.name.rsplit("_", 1)[1].split(".", 1)[1] for p in (backups / "inc" / "shop.ru").rglob("*.tar.gz"))
    assert levels.count("full.tar.gz") == 2 and levels.count("month.tar.gz") == 1
    assert levels.count("decade.tar.gz") == 3
    assert sorted(p.name for p in (backups / "inc" / "shop.ru").iterdir()) == ["2025", "2026"]


def test_manual_restore_with_plain_tar_as_documented(tmp_path: Path) -> None:
    """docs/incremental.md: tar -xf the yearly, then tar -x -G -f each level in order."""
    www = tmp_path / "www"
    site = Site(www / "shop.ru", 3)
    backups = tmp_path / "backups"
    main = write_main(tmp_path, [inc_job(www, [local_storage(backups)])])
    for index, date in enumerate(["2026-01-01", "2026-01-05", "2026-01-11", "2026-01-13"]):
        if index:
            site.change()
        assert run_day(main, date, tmp_path / "tmp").returncode == 0
    expected = expected_state(site)
    year = backups / "inc" / "shop.ru" / "2026"
    full, decade, day = (next(year.glob(f"*_{d}_03-00-00.{level}.tar.gz")) for d, level in
                         [("2026-01-01", "full"), ("2026-01-11", "decade"), ("2026-01-13", "day")])
    dest = tmp_path / "manual"
    dest.mkdir()
    subprocess.run(["tar", "-xf", str(full), "-C", str(dest)], check=True)
    for archive in (decade, day):
        subprocess.run(["tar", "-x", "-G", "-f", str(archive), "-C", str(dest)], check=True)
    assert snapshot(dest / "shop.ru") == expected


def test_a_storage_down_for_a_day_catches_up_and_its_chain_restores(tmp_path: Path) -> None:
    www = tmp_path / "www"
    site = Site(www / "shop.ru", 5)
    first, second = tmp_path / "first", tmp_path / "second"
    main = write_main(tmp_path, [inc_job(www, [local_storage(first), local_storage(second)])])
    states = {}
    for index, date in enumerate(["2026-03-01", "2026-03-05", "2026-03-11", "2026-03-12", "2026-03-15"]):
        if index:
            site.change()
        down = date == "2026-03-11"
        if down:  # the second storage's folder becomes unusable: a file where the folder should be
            second.rename(tmp_path / "second-away")
            second.write_text("unavailable")
        done = run_day(main, date, tmp_path / "tmp")
        if down:
            assert done.returncode == 1
            second.unlink()
            (tmp_path / "second-away").rename(second)
        else:
            assert done.returncode == 0, done.stderr
        states[date] = expected_state(site)
    for storage_dir in (first, second):
        assert len(list(storage_dir.rglob("*_2026-03-11_03-00-00.decade.tar.gz"))) == 1
    only_second = write_main(tmp_path, [inc_job(www, [local_storage(second)])])
    for date in ("2026-03-12", "2026-03-15"):
        dest = tmp_path / f"r-{date}"
        restore(only_second, "shop.ru", date, dest)
        assert snapshot(dest / "shop.ru") == states[date]


def test_missing_snapshot_starts_a_new_full_chain_and_says_so(tmp_path: Path) -> None:
    www = tmp_path / "www"
    site = Site(www / "shop.ru", 9)
    backups = tmp_path / "backups"
    main = write_main(tmp_path, [inc_job(www, [local_storage(backups)])])
    assert run_day(main, "2026-05-01", tmp_path / "tmp").returncode == 0
    for snar in backups.rglob("*.full.snar"):
        snar.unlink()
    site.change()
    done = run_day(main, "2026-05-02", tmp_path / "tmp")
    assert done.returncode == 0, done.stderr
    assert "no complete chain for 2026 on any storage: starting a new full chain" in done.stderr
    assert len(list(backups.rglob("*_2026-05-02_03-00-00.full.tar.gz"))) == 1
    dest = tmp_path / "r"
    restore(main, "shop.ru", "2026-05-02", dest)
    assert snapshot(dest / "shop.ru") == expected_state(site)


def test_store_on_an_inc_job_is_refused(tmp_path: Path) -> None:
    main = write_main(tmp_path, [inc_job(tmp_path, [local_storage(tmp_path / "b", store={"days": 3})])])
    done = corral("check", "-c", str(main))
    assert done.returncode == 2
    assert "type `inc_files` rotates its own chains (a year of incremental backups); remove `store`" in done.stderr


@pytest.mark.parametrize("date", ["2026-13-01", "yesterday"])
def test_bad_restore_date_is_one_line(tmp_path: Path, date: str) -> None:
    main = write_main(tmp_path, [inc_job(tmp_path, [local_storage(tmp_path / "b")])])
    done = corral("restore", "inc", "--target", "x", "--date", date, "--to", str(tmp_path / "r"), "-c", str(main))
    assert done.returncode == 2
    assert done.stderr.strip() == (f"corral: error: --date `{date}` is not a date like 2026-07-24 or a time like "
                                   "2026-07-24 09:00")


def test_chain_rotation_deletes_only_chain_files_corral_wrote(tmp_path: Path) -> None:
    """An expired chain goes; files that merely share its target's name and stamp stay."""
    (tmp_path / "www" / "site").mkdir(parents=True)
    (tmp_path / "www" / "site" / "index.html").write_text("hello\n")
    outside = tmp_path / "user.tar.gz"
    outside.write_text("the user's own archive\n")
    job_dir = tmp_path / "backups" / "inc"
    expired = ["site/2024/site_2024-01-01_03-00-00.full.tar.gz", "site/2024/site_2024-01-01_03-00-00.full.snar"]
    decoys = [
        "site/2024/site_2024-03-01_00-00-00.full.pdf",  # a level name, but not a chain file's extension
        "other/2024/site_2024-01-05_03-00-00.full.tar.gz",  # the target's name in another folder
        "site_2024-01-06_03-00-00.full.tar.gz",  # directly in the job's folder
        "site/2024/notes.partial-draft.txt",
    ]
    for name in expired + decoys:
        (job_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (job_dir / name).write_text(name)
    link = job_dir / "site/2024/site_2024-01-07_03-00-00.full.tar.gz"
    link.symlink_to(outside)
    main = write_main(tmp_path, [inc_job(tmp_path / "www", [local_storage(tmp_path / "backups")])])

    assert run_day(main, "2026-02-01", tmp_path / "tmp").returncode == 0

    assert not [name for name in expired if (job_dir / name).exists()]
    assert [name for name in decoys if (job_dir / name).exists()] == decoys
    assert link.is_symlink() and outside.read_text() == "the user's own archive\n"
    assert (job_dir / "site/2026/site_2026-02-01_03-00-00.full.tar.gz").exists()


def test_sigterm_while_a_storage_answers_is_never_taken_for_a_storage_error(tmp_path: Path) -> None:
    """SIGTERM raises Interrupted wherever the main thread waits, here in a storage's listing, download or delete
    (a slow remote listing of every chain): inc_files lets it through, so the run stops instead of logging a
    storage error and dumping on. (The moment cannot be hit reliably through the CLI; the hook's helpers can.)"""
    import logging
    from datetime import datetime

    from corral.errors import Interrupted
    from corral_source_files import chain, copies, inc

    class Signalled:
        name, root = "sftp", "/b"

        def list(self) -> list:
            raise Interrupted(15)

        def get(self, *args: object) -> None:
            raise Interrupted(15)

        put = delete = get

    class Run:
        log = logging.getLogger("corral")

    storage = Signalled()
    link = chain.Link(made=datetime(2020, 1, 1), level=chain.FULL, archive="/b/t/t.tar.gz", snar="/b/t/t.snar")
    calls = [
        lambda: inc._listings([storage], Run()),
        lambda: copies.copy_missing([link], storage, {"a": (storage, [link]), "b": (Signalled(), [])}, tmp_path,
                                    "inc"),
        lambda: inc._rotate({"a": (storage, [link])}, datetime(2030, 1, 1), Run()),
    ]
    for call in calls:
        with pytest.raises(Interrupted):
            call()
