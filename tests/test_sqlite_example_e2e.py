"""The worked example of docs/writing-plugins.md: the SQLite source plugin, as printed there, in at most 60
lines, backs up each matched database consistently while it is written, and ``zstd -dc | sqlite3`` restores it."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest

from corral.testing.cli import corral, local_storage, plugin_site, write_main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "sqlite" / "corral_source_sqlite.py"
NEEDS_SQLITE3 = pytest.mark.skipif(shutil.which("sqlite3") is None and os.environ.get("CI") != "true",
                                   reason="sqlite3 is not installed (install.sh installs it)")


def test_the_example_is_the_guide_s_and_short() -> None:
    code = EXAMPLE.read_text()
    assert len(code.splitlines()) <= 60
    assert f"```python\n{code}```" in (ROOT / "docs" / "writing-plugins.md").read_text()


def _app(path: Path, rows: int) -> None:
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL, note TEXT)")
        db.executemany("INSERT INTO ledger (amount, note) VALUES (?, ?)",
                       [(sign * n, "x" * 200) for n in range(rows) for sign in (1, -1)])


@NEEDS_SQLITE3
def test_each_database_is_dumped_consistently_and_restores_with_sqlite3(tmp_path: Path) -> None:
    srv = tmp_path / "srv"
    for site in ("shop", "blog"):
        _app(srv / site / "app.db", 50_000)
    stop = threading.Event()

    def write() -> None:  # every transaction adds +n and -n: a consistent copy sums to 0
        with sqlite3.connect(srv / "shop" / "app.db", timeout=30) as db:
            n = 0
            while not stop.is_set():
                n += 1
                with db:
                    db.execute("INSERT INTO ledger (amount, note) VALUES (?, 'w')", (n,))
                    db.execute("INSERT INTO ledger (amount, note) VALUES (?, 'w')", (-n,))

    site = plugin_site(tmp_path, "sources", "sqlite", EXAMPLE.read_text())
    job = {"job": "apps", "type": "sqlite", "sources": [{"target": [f"{srv}/*/app.db", f"{srv}/gone/*.db"],
                                                          "compression": "zstd", "name": "apps"}],
           "storages": [local_storage(tmp_path / "backups")]}
    writer = threading.Thread(target=write)
    writer.start()
    try:
        done = corral("start", "-c", str(write_main(tmp_path, [job])), env={"PYTHONPATH": str(site)})
    finally:
        stop.set()
        writer.join()
    assert done.returncode == 1  # the pattern that matches nothing fails alone, named by the source's name
    assert f"apps: target {srv}/gone/*.db: matches no file" in done.stderr
    archives = {path.parent.name: path for path in (tmp_path / "backups").rglob("*.sql.zst")}
    assert sorted(archives) == ["blog", "shop"]

    restored = tmp_path / "restored.db"
    unpacked = subprocess.run(["zstd", "-dc", str(archives["shop"])], capture_output=True, check=True).stdout
    subprocess.run(["sqlite3", str(restored)], input=unpacked, check=True)
    with sqlite3.connect(restored) as db:
        count, total = db.execute("SELECT count(*), sum(amount) FROM ledger").fetchone()
    assert count >= 100_000 and count % 2 == 0 and total == 0


@NEEDS_SQLITE3
def test_a_file_that_is_no_database_fails_its_target_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "srv" / "junk").mkdir(parents=True)
    (tmp_path / "srv" / "junk" / "app.db").write_text("not a database\n" * 100)
    site = plugin_site(tmp_path, "sources", "sqlite", EXAMPLE.read_text())
    job = {"job": "apps", "type": "sqlite", "sources": [{"target": [f"{tmp_path}/srv/*/app.db"]}],
           "storages": [local_storage(tmp_path / "backups")]}
    done = corral("start", "-c", str(write_main(tmp_path, [job])), env={"PYTHONPATH": str(site)})
    assert done.returncode == 1
    assert "file is not a database" in done.stderr and "Traceback" not in done.stderr
    assert not list((tmp_path / "backups").rglob("*.sql*"))  # a failed dump never looks like a backup
