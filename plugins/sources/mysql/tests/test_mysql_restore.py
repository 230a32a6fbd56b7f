"""``corral restore`` of ``mysql`` and ``mysql_xtradb`` archives made by the real ``corral start``, into real
MariaDB servers: as another name, under the own name, over a database (refused, then --force), by date, a dry
run, an unknown target, a corrupted and an encrypted archive, and a physical backup prepared and started."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mysql_testkit import (
    ARTICLE_EXTRA_KEYS,
    CORRAL,
    drop,
    execute,
    load_awkward,
    local_storage,
    snapshot,
    write_config,
)
from test_mysql_xtradb import started_on

from corral_testservers import MariaDB
from corral_testservers.prerequisites import require_executable
from corral_testservers.workdirs import instance_dir

README = Path(__file__).parents[1] / "README.md"
DATABASES = ["r_shop", "r_wiki"]
FIRST, SECOND = "2026-01-30T03:00:00", "2026-01-31T03:00:00"


def corral(*args: str, now: str = SECOND, home: Path | None = None, path: Path | None = None
           ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    env = {**os.environ, "CORRAL_NOW": now}
    if home is not None:
        env["HOME"] = str(home)
    if path is not None:
        env["PATH"] = f"{path}:{env['PATH']}"
    return subprocess.run([str(CORRAL), *args], capture_output=True, text=True, timeout=600, env=env)


def renamed(shot: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """A snapshot as it reads in a copy: the view definitions name their own database."""
    views = [(name, text.replace(f"`{old}`", f"`{new}`")) for name, text in shot["views"]]
    return {**shot, "views": tuple(views)}


def errors(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in done.stderr, done.stderr
    return [line for line in done.stderr.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def two_nights(mariadb_server: MariaDB, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two nights of `corral start` of two databases; `marker` says which night; the second night's snapshots."""
    tmp = tmp_path_factory.mktemp("restore")
    config = write_config(tmp, [{
        "job": "shop", "type": "mysql",
        "sources": [{"connect": {"db_host": "127.0.0.1", "db_port": mariadb_server.port,
                                 "db_user": mariadb_server.user, "db_password": mariadb_server.password},
                     "target": DATABASES, "compression": "zstd", "extra_keys": ARTICLE_EXTRA_KEYS}],
        "storages": [local_storage(tmp / "backups")],
    }])  # fmt: skip
    drop(mariadb_server, *DATABASES)
    try:
        for db in DATABASES:
            load_awkward(mariadb_server, db, seed=len(db))
            execute(mariadb_server, "CREATE TABLE marker (night VARCHAR(10))", "INSERT INTO marker VALUES ('first')",
                    database=db)
        for night, now in (("first", FIRST), ("second", SECOND)):
            for db in DATABASES:
                execute(mariadb_server, f"UPDATE marker SET night = '{night}'", database=db)
            done = corral("start", "-c", str(config), "shop", now=now)
            assert done.returncode == 0, done.stderr
        yield {"config": str(config), "tmp": tmp, "shots": {db: snapshot(mariadb_server, db) for db in DATABASES}}
    finally:
        drop(mariadb_server, *DATABASES)


def test_round_trip_as_a_copy_and_by_date(mariadb_server: MariaDB, two_nights: dict[str, Any]) -> None:
    config = two_nights["config"]
    try:
        done = corral("restore", "shop", "--target", "r_shop", "--as", "r_copy", "-c", config)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0] == f"created database `r_copy` on 127.0.0.1:{mariadb_server.port}"
        assert lines[1].startswith("loaded `") and "r_shop_2026-01-31_03-00-00.sql.zst" in lines[1]
        assert lines[1].endswith(": 5 tables, 1 view"), lines[1]
        assert snapshot(mariadb_server, "r_copy") == renamed(two_nights["shots"]["r_shop"], "r_shop", "r_copy")
        assert execute(mariadb_server, "SELECT night FROM marker", database="r_copy") == [("second",)]
        # the copy's view, routine and trigger work on the copy's own tables
        execute(mariadb_server, "CALL add_customer('in the copy', 500)", database="r_copy")
        assert execute(mariadb_server, "SELECT name FROM rich_customers WHERE name = 'in the copy'",
                       database="r_copy") == [("in the copy",)]
        assert snapshot(mariadb_server, "r_shop") == two_nights["shots"]["r_shop"], "the original is untouched"

        done = corral("restore", "shop", "--target", "r_shop", "--date", "2026-01-30", "--as", "r_old", "-c", config)
        assert done.returncode == 0, done.stderr
        assert "r_shop_2026-01-30_03-00-00.sql.zst" in done.stdout
        assert execute(mariadb_server, "SELECT night FROM marker", database="r_old") == [("first",)]
    finally:
        drop(mariadb_server, "r_copy", "r_old")


def test_own_name_refusal_and_force(mariadb_server: MariaDB, two_nights: dict[str, Any]) -> None:
    config, wanted = two_nights["config"], two_nights["shots"]["r_wiki"]
    drop(mariadb_server, "r_wiki")
    done = corral("restore", "shop", "--target", "r_wiki", "-c", config)
    assert done.returncode == 0, done.stderr
    assert snapshot(mariadb_server, "r_wiki") == wanted

    execute(mariadb_server, "CREATE TABLE stray (id INT)", "DELETE FROM legacy", database="r_wiki")
    done = corral("restore", "shop", "--target", "r_wiki", "-c", config)
    assert done.returncode == 2
    assert errors(done) == [f"corral: error: database `r_wiki` on 127.0.0.1:{mariadb_server.port} holds 6 tables, "
                            "1 view, 2 routines or events: left as it is; restore under another name with --as NAME, "
                            "or replace it with --force"]
    assert execute(mariadb_server, "SELECT COUNT(*) FROM legacy", database="r_wiki") == [(0,)], "not touched"

    dry = corral("restore", "shop", "--target", "r_wiki", "--force", "--dry-run", "-c", config)
    assert dry.returncode == 0, dry.stderr
    assert "would drop and re-create it (--force)" in dry.stdout
    assert execute(mariadb_server, "SELECT COUNT(*) FROM legacy", database="r_wiki") == [(0,)], "a dry run"

    done = corral("restore", "shop", "--target", "r_wiki", "--force", "-c", config)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == (f"dropped database `r_wiki` on 127.0.0.1:{mariadb_server.port} "
                                           "(6 tables, 1 view, 2 routines or events; --force)")
    assert snapshot(mariadb_server, "r_wiki") == wanted


def test_dry_run_unknown_target_and_other_servers(
    mariadb_server: MariaDB, restore_server: MariaDB, two_nights: dict[str, Any], tmp_path: Path
) -> None:
    config = two_nights["config"]
    done = corral("restore", "shop", "--target", "r_shop", "--as", "r_dry", "--dry-run", "-c", config)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("would load `")
    assert f"into database `r_dry` on 127.0.0.1:{mariadb_server.port}; it does not exist" in done.stdout
    assert not execute(mariadb_server, "SHOW DATABASES LIKE 'r_dry'")

    done = corral("restore", "shop", "--target", "r_nope", "-c", config)
    assert done.returncode == 2
    assert errors(done) == ["corral: error: job `shop` has no target `r_nope` on storage local; its targets: r_shop, "
                            "r_wiki"]

    # the job's own login by name (its password), a socket with the client's own login (root, no password)
    done = corral("restore", "shop", "--target", "r_shop", "--as", "r_dry", "--dry-run", "--into",
                  f"{mariadb_server.user}@localhost:{mariadb_server.port}", "-c", config)
    assert done.returncode == 0, done.stderr
    done = corral("restore", "shop", "--target", "r_shop", "--dry-run", "--into", str(mariadb_server.socket),
                  "-c", config, home=tmp_path)
    assert done.returncode == 2
    assert f"database `r_shop` on socket {mariadb_server.socket} holds 5 tables, 1 view" in done.stderr

    # another server: the password from the client's own ~/.my.cnf, never from the job; no password in any
    # argument of the client (a wrapper records them)
    (tmp_path / ".my.cnf").write_text(f"[client]\npassword={restore_server.password}\n")
    wrappers, argv = tmp_path / "bin", tmp_path / "argv.txt"
    wrappers.mkdir()
    (wrappers / "mariadb").write_text(f'#!/bin/sh\necho "$@" >> {argv}\nexec {shutil.which("mariadb")} "$@"\n')
    (wrappers / "mariadb").chmod(0o755)
    try:
        done = corral("restore", "shop", "--target", "r_shop", "--into",
                      f"{restore_server.user}@127.0.0.1:{restore_server.port}", "-c", config, home=tmp_path,
                      path=wrappers)
        assert done.returncode == 0, done.stderr
        assert snapshot(restore_server, "r_shop") == two_nights["shots"]["r_shop"]
        done = corral("restore", "shop", "--target", "r_shop", "--as", "r_args", "-c", config, path=wrappers)
        assert done.returncode == 0, done.stderr
        calls = argv.read_text()
        assert "--database=r_shop" in calls and "--database=r_args" in calls and "--defaults-file=" in calls
        assert restore_server.password not in calls and mariadb_server.password not in calls
    finally:
        drop(restore_server, "r_shop")
        drop(mariadb_server, "r_args")

    # --to: the dump fetched for the standard client, as before
    done = corral("restore", "shop", "--target", "r_shop", "--to", str(tmp_path / "fetched"), "-c", config)
    assert done.returncode == 0, done.stderr
    assert "fetched, not restored" in done.stdout
    assert (tmp_path / "fetched" / "r_shop_2026-01-31_03-00-00.sql.zst").is_file()


def test_the_readme_by_hand_steps_load_as_another_name(
    restore_server: MariaDB, two_nights: dict[str, Any], tmp_path: Path
) -> None:
    match = re.search(r"<!-- restore-mysql-as -->\s*```bash\n(.*?)```", README.read_text(), re.DOTALL)
    assert match, "README lost its by-hand steps"
    (tmp_path / ".my.cnf").write_text(restore_server.defaults_file.read_text())
    archive = two_nights["tmp"] / "backups" / "shop" / "r_shop" / "r_shop_2026-01-31_03-00-00.sql.zst"
    try:
        subprocess.run(["bash", "-euo", "pipefail", "-c", match.group(1)], check=True, capture_output=True,
                       env={**os.environ, "HOME": str(tmp_path), "ARCHIVE": str(archive), "DB": "r_shop",
                            "AS": "r_hand"}, timeout=300)  # fmt: skip
        assert snapshot(restore_server, "r_hand") == renamed(two_nights["shots"]["r_shop"], "r_shop", "r_hand")
        assert not execute(restore_server, "SHOW DATABASES LIKE 'r_shop'")
    finally:
        drop(restore_server, "r_hand")


def test_a_corrupted_archive_fails_in_one_line(mariadb_server: MariaDB, two_nights: dict[str, Any],
                                               tmp_path: Path) -> None:
    tmp = two_nights["tmp"]
    shutil.copytree(tmp / "backups", tmp_path / "backups")
    config = Path(two_nights["config"]).read_text().replace(str(tmp / "backups"), str(tmp_path / "backups"))
    conf_dir = tmp / "conf.d"
    jobs = (conf_dir / "corral.conf.jobs.conf").read_text().replace(str(tmp / "backups"), str(tmp_path / "backups"))
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "corral.conf.jobs.conf").write_text(jobs)
    (tmp_path / "corral.conf").write_text(config)
    archive = tmp_path / "backups" / "shop" / "r_shop" / "r_shop_2026-01-31_03-00-00.sql.zst"
    data = bytearray(archive.read_bytes())
    data[len(data) // 3] ^= 0x10
    archive.write_bytes(bytes(data))
    try:
        done = corral("restore", "shop", "--target", "r_shop", "--as", "r_bad", "-c", str(tmp_path / "corral.conf"))
        assert done.returncode == 1
        said = errors(done)
        assert len(said) == 1 and said[0].startswith("corral: error: database `r_bad` on "), said
        assert "; dropped the half-loaded database" in said[0] and "/*stdin*" not in said[0], said
        assert not execute(mariadb_server, "SHOW DATABASES LIKE 'r_bad'"), "the database it created is dropped"
    finally:
        drop(mariadb_server, "r_bad")


def test_an_encrypted_archive_with_identity(mariadb_server: MariaDB, tmp_path: Path) -> None:
    require_executable("age", apt="age")
    key = tmp_path / "key.txt"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    recipient = subprocess.run(["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True).stdout
    config = write_config(tmp_path, [{
        "job": "sealed", "type": "mysql", "encrypt": {"recipients": [recipient.strip()]},
        "sources": [{"connect": {"db_host": "127.0.0.1", "db_port": mariadb_server.port,
                                 "db_user": mariadb_server.user, "db_password": mariadb_server.password},
                     "target": ["r_sealed"], "compression": "zstd"}],
        "storages": [local_storage(tmp_path / "backups")],
    }])  # fmt: skip
    try:
        load_awkward(mariadb_server, "r_sealed", seed=7)
        wanted = snapshot(mariadb_server, "r_sealed")
        done = corral("start", "-c", str(config), "sealed")
        assert done.returncode == 0, done.stderr
        assert list((tmp_path / "backups").rglob("r_sealed_*.sql.zst.age"))
        done = corral("restore", "sealed", "--target", "r_sealed", "--as", "r_open", "-c", str(config))
        assert done.returncode == 2
        assert "is encrypted (`encrypt:`): give the age secret key with --identity FILE" in errors(done)[0]
        done = corral("restore", "sealed", "--target", "r_sealed", "--as", "r_open", "--identity", str(key),
                      "-c", str(config))
        assert done.returncode == 0, done.stderr
        assert snapshot(mariadb_server, "r_open") == renamed(wanted, "r_sealed", "r_open")
    finally:
        drop(mariadb_server, "r_sealed", "r_open")


def test_xtradb_restores_into_a_prepared_folder_that_starts(
    mariadb_server: MariaDB, corral_servers_root: Path, tmp_path: Path
) -> None:
    for program in ("mariabackup", "mbstream"):
        require_executable(program, apt="mariadb-backup")
    config = write_config(tmp_path, [{
        "job": "hot", "type": "mysql_xtradb",
        "sources": [{"connect": {"db_host": "127.0.0.1", "db_port": mariadb_server.port,
                                 "db_user": mariadb_server.user, "db_password": mariadb_server.password},
                     "compression": "zstd"}],
        "storages": [local_storage(tmp_path / "backups")],
    }])  # fmt: skip
    target = f"xtradb_127.0.0.1_{mariadb_server.port}"
    try:
        load_awkward(mariadb_server, "r_hot", seed=3)
        wanted = snapshot(mariadb_server, "r_hot")
        done = corral("start", "-c", str(config), "hot")
        assert done.returncode == 0, done.stderr
        done = corral("restore", "hot", "--target", target, "-c", str(config))
        assert done.returncode == 2
        assert errors(done) == ["corral: error: a physical backup is restored into a folder: give --to DIR"]

        base = instance_dir(corral_servers_root, "xtradb-corral-restore")
        datadir = base / "data"
        done = corral("restore", "hot", "--target", target, "--to", str(datadir), "-c", str(config))
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].startswith("unpacked `") and f"into `{datadir}` in " in lines[0] and lines[0].endswith(" s")
        assert lines[1].startswith(f"prepared `{datadir}` with mariabackup --prepare in ")
        with started_on(datadir, base) as restored:
            restored = MariaDB(restored.host, restored.port, mariadb_server.user, mariadb_server.password,
                               restored.socket, datadir, restored.defaults_file, restored.log)
            assert snapshot(restored, "r_hot") == wanted

        archive = next((tmp_path / "backups").rglob("*.xbstream.zst"))  # an entry renamed to climb out of --to
        raw = subprocess.run(["zstd", "-dc", str(archive)], capture_output=True, check=True).stdout
        assert raw.count(b"backup-my.cnf") >= 1
        tampered = raw.replace(b"backup-my.cnf", b"../kup-my.cnf")
        archive.write_bytes(subprocess.run(["zstd", "-c"], input=tampered, capture_output=True, check=True).stdout)
        elsewhere = tmp_path / "tampered" / "data"
        done = corral("restore", "hot", "--target", target, "--to", str(elsewhere), "--no-verify", "-c", str(config))
        assert done.returncode == 1, done.stdout
        assert errors(done)[0].startswith("corral: error: ") and "invalid filename ../kup-my.cnf" in errors(done)[0]
        assert len(errors(done)) == 1 and not (tmp_path / "tampered" / "kup-my.cnf").exists()
    finally:
        drop(mariadb_server, "r_hot")
