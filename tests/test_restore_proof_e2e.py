"""`corral restore` proves every archive it reads against the manifest the run wrote beside it: an archive whose
bytes were changed (same size, still a valid dump) or whose size differs is not restored, in one line; `--no-verify`
restores it anyway; an archive no manifest lists is restored with a note. Files, MariaDB, PostgreSQL, MongoDB."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymongo
import pymysql
import pytest

from corral.testing.cli import corral, local_storage, write_main
from corral_testservers import MariaDB, Mongo, Postgres

NOW = {"CORRAL_NOW": "2026-03-02T03:00:00"}
HONEST, FORGED = b"HONEST-VALUE", b"FORGED-VALUE"  # the same length: the archive keeps its size and its format


def _backed_up(tmp_path: Path, job: dict[str, Any]) -> tuple[Path, Path]:
    """The job run once by the real `corral start`; returns the main file and the one stored archive."""
    backups = tmp_path / "b"
    config = write_main(tmp_path, [{**job, "storages": [local_storage(backups)]}])
    done = corral("start", "-c", str(config), env=NOW)
    assert done.returncode == 0, done.stderr
    stored = [p for p in (backups / job["job"]).rglob("*_2026-03-02_03-00-00.*") if ".manifests" not in p.parts]
    assert len(stored) == 1, stored
    return config, stored[0]


def _site(tmp_path: Path) -> Path:
    site = tmp_path / "www" / "shop"
    site.mkdir(parents=True)
    (site / "prices.txt").write_bytes(b"price: " + HONEST + b"\n")
    return site


def _forge(archive: Path) -> None:
    """What an attacker or a bad disk does: the data changed, the archive still a well-formed dump of that size."""
    data = archive.read_bytes()
    assert data.count(HONEST) == 1, archive
    archive.write_bytes(data.replace(HONEST, FORGED))


def _refused(done: subprocess.CompletedProcess[str], archive: Path) -> None:
    errors = [line for line in done.stderr.splitlines() if line.startswith("corral: error:")]
    assert done.returncode == 1 and len(errors) == 1, (done.stdout, done.stderr)
    assert f"`{archive.name}` read back is not what was stored" in errors[0], errors
    assert "its manifest says" in errors[0] and "--no-verify" in errors[0], errors


def test_a_forged_file_archive_is_not_extracted(tmp_path: Path) -> None:
    site = _site(tmp_path)
    config, archive = _backed_up(tmp_path, {"job": "web", "type": "desc_files",
                                            "sources": [{"target": [str(site)], "gzip": False}]})
    _forge(archive)
    done = corral("restore", "web", "--target", str(site), "--to", str(tmp_path / "back"), "-c", str(config))
    _refused(done, archive)
    assert not list((tmp_path / "back").rglob("prices.txt")), "a forged archive was extracted"

    done = corral("restore", "web", "--target", str(site), "--to", str(tmp_path / "anyway"), "--no-verify",
                  "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert FORGED in next((tmp_path / "anyway").rglob("prices.txt")).read_bytes()
    assert (tmp_path / "anyway").stat().st_mode & 0o777 == 0o700  # nobody else reaches what it extracted


def test_an_archive_of_another_size_is_refused_before_a_byte_is_read(tmp_path: Path) -> None:
    site = _site(tmp_path)
    config, archive = _backed_up(tmp_path, {"job": "web", "type": "desc_files",
                                            "sources": [{"target": [str(site)], "gzip": True}]})
    size = archive.stat().st_size
    with archive.open("ab") as grown:
        grown.write(b"\0" * 512)
    done = corral("restore", "web", "--target", str(site), "--to", str(tmp_path / "back"), "-c", str(config))
    errors = [line for line in done.stderr.splitlines() if line.startswith("corral: error:")]
    assert done.returncode == 1 and len(errors) == 1, done.stderr
    assert f"is {size + 512} bytes, its manifest says {size}: not restored" in errors[0], errors
    assert not (tmp_path / "back").exists() or not any((tmp_path / "back").iterdir())


def test_an_archive_without_a_manifest_is_restored_with_a_note(tmp_path: Path) -> None:
    site = _site(tmp_path)
    config, archive = _backed_up(tmp_path, {"job": "web", "type": "desc_files",
                                            "sources": [{"target": [str(site)], "gzip": False}]})
    for made in (tmp_path / "b" / "web" / ".manifests").iterdir():
        made.unlink()
    done = corral("restore", "web", "--target", str(site), "--to", str(tmp_path / "back"), "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert f"note: `{archive.name}` has no manifest entry" in done.stdout
    assert HONEST in next((tmp_path / "back").rglob("prices.txt")).read_bytes()


def _plant(folder: Path, name: str) -> Path:
    """What a storage writer does without touching a manifest: a well-formed archive under a run's name."""
    planted = folder / name
    with tarfile.open(planted, "w") as archive:
        data = b"price: " + FORGED + b"\n"
        member = tarfile.TarInfo("shop/prices.txt")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    return planted


def test_an_archive_no_manifest_lists_made_since_the_manifests_is_refused(tmp_path: Path) -> None:
    """Planted under a later second than the run, it would be the newest: restore and drill refuse it; an archive
    older than every manifest (made before corral kept them) is still restored with a note."""
    site = _site(tmp_path)
    config, archive = _backed_up(tmp_path, {"job": "web", "type": "desc_files",
                                            "sources": [{"target": [str(site)], "gzip": False}]})
    planted = _plant(archive.parent, "shop_2026-03-02_03-00-01.tar")
    back = tmp_path / "back"
    done = corral("restore", "web", "--target", str(site), "--to", str(back), "-c", str(config))
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        f"corral: error: `{planted.name}` on storage local is in no manifest though manifests are kept since "
        "2026-03-02_03-00-00: planted, or its run could not record it; not restored (--no-verify restores it anyway)"]
    assert list(back.rglob("*")) == []
    drill = corral("drill", "web", "-c", str(config), env={"CORRAL_NOW": "2026-03-02T04:00:00"})
    assert drill.returncode == 1 and f"`{planted.name}` on storage local is in no manifest" in drill.stdout, drill
    anyway = corral("restore", "web", "--target", str(site), "--to", str(back), "--no-verify", "-c", str(config))
    assert anyway.returncode == 0, anyway.stderr
    assert FORGED in (back / "shop" / "prices.txt").read_bytes()

    old = _plant(archive.parent, "shop_2026-03-01_03-00-00.tar")
    done = corral("restore", "web", "--target", str(site), "--date", "2026-03-01", "--to", str(tmp_path / "old"),
                  "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert f"note: `{old.name}` has no manifest entry" in done.stdout


def test_a_manifest_too_big_is_skipped_with_a_warning(tmp_path: Path) -> None:
    """A file over 64 MiB in a manifest's place is not corral's: one warning line, its run's archive unproven; the
    restore and the drill say so instead of `unexpected NotAManifest` and `nothing to drill`."""
    site = _site(tmp_path)
    config, archive = _backed_up(tmp_path, {"job": "web", "type": "desc_files",
                                            "sources": [{"target": [str(site)], "gzip": False}]})
    record = tmp_path / "b" / "web" / ".manifests" / "2026-03-02_03-00-00.json"
    os.truncate(record, 65 << 20)
    done = corral("restore", "web", "--target", str(site), "--to", str(tmp_path / "back"), "-c", str(config))
    assert done.returncode == 1, done.stdout + done.stderr
    assert (f"warning: storage local: `{record}` is not a manifest corral wrote (too big): skipped, the archives of "
            "its run are unproven") in done.stdout
    [error] = done.stderr.splitlines()
    assert f"`{archive.name}` on storage local is in no manifest" in error and "unexpected" not in error
    drill = corral("drill", "web", "-c", str(config), env={"CORRAL_NOW": "2026-03-02T04:00:00"})
    assert drill.returncode == 1 and "nothing to drill" not in drill.stdout + drill.stderr, drill
    assert "web/shop: FAILED" in drill.stdout and "is in no manifest" in drill.stdout, drill


def _mysql_rows(server: MariaDB, database: str) -> list[Any] | None:
    conn = pymysql.connect(**server.connect_kwargs(), autocommit=True)
    try:
        with conn.cursor() as cursor:
            if not cursor.execute("SHOW DATABASES LIKE %s", (database,)):
                return None
            cursor.execute(f"SELECT v FROM `{database}`.t")
            return list(cursor.fetchall())
    finally:
        conn.close()


def _mysql(server: MariaDB, *statements: str) -> None:
    conn = pymysql.connect(**server.connect_kwargs(), autocommit=True)
    try:
        with conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        conn.close()


def _pg(server: Postgres, dbname: str, *statements: str) -> list[Any] | None:
    import psycopg

    try:
        conn = psycopg.connect(**{**server.connect_kwargs(), "dbname": dbname}, autocommit=True)
    except psycopg.OperationalError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    with conn:
        rows: list[Any] = []
        for statement in statements:
            cursor = conn.execute(statement)
            rows = cursor.fetchall() if cursor.description else []
        return rows


def _connect(server: MariaDB | Postgres) -> dict[str, object]:
    return {"db_host": server.host, "db_port": server.port, "db_user": server.user, "db_password": server.password}


@pytest.fixture
def mysql_case(mariadb_server: MariaDB) -> Any:
    _mysql(mariadb_server, "DROP DATABASE IF EXISTS proof_src", "CREATE DATABASE proof_src",
           "CREATE TABLE proof_src.t (v varchar(40))", f"INSERT INTO proof_src.t VALUES ('{HONEST.decode()}')")
    job = {"job": "maria", "type": "mysql", "sources": [{"connect": _connect(mariadb_server), "target": ["proof_src"],
                                                         "gzip": False}]}
    yield job, lambda name: _mysql_rows(mariadb_server, name)
    _mysql(mariadb_server, "DROP DATABASE IF EXISTS proof_src", "DROP DATABASE IF EXISTS proof_back")


@pytest.fixture
def postgresql_case(postgres_server: Postgres) -> Any:
    _pg(postgres_server, "postgres", "DROP DATABASE IF EXISTS proof_src", "DROP DATABASE IF EXISTS proof_back",
        "CREATE DATABASE proof_src")
    _pg(postgres_server, "proof_src", "CREATE TABLE t (v text)", f"INSERT INTO t VALUES ('{HONEST.decode()}')")
    job = {"job": "pg", "type": "postgresql", "sources": [{"connect": _connect(postgres_server),
                                                           "target": ["proof_src"], "format": "plain",
                                                           "globals": False}]}

    def rows(name: str) -> list[Any] | None:
        return _pg(postgres_server, name, "SELECT v FROM t") if _pg(postgres_server, "postgres", (
            f"SELECT 1 FROM pg_database WHERE datname = '{name}'")) else None

    yield job, rows
    _pg(postgres_server, "postgres", "DROP DATABASE IF EXISTS proof_src WITH (FORCE)",
        "DROP DATABASE IF EXISTS proof_back WITH (FORCE)")


@pytest.fixture
def mongodb_case(mongo_server: Mongo) -> Any:
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(**mongo_server.connect_kwargs())
    client.drop_database("proof_src")
    client.drop_database("proof_back")
    client["proof_src"]["t"].insert_one({"v": HONEST.decode()})
    job = {"job": "mongo", "type": "mongodb", "sources": [{
        "connect": {"db_host": mongo_server.host, "db_port": mongo_server.port, "db_user": mongo_server.user,
                    "db_password": mongo_server.password}, "target": ["proof_src"], "gzip": False}]}

    def rows(name: str) -> list[Any] | None:
        if name not in client.list_database_names():
            return None
        return [doc["v"] for doc in client[name]["t"].find()]

    yield job, rows
    client.drop_database("proof_src")
    client.drop_database("proof_back")
    client.close()


@pytest.mark.parametrize("case", ["mysql_case", "postgresql_case", "mongodb_case"])
def test_a_forged_dump_is_not_left_in_the_server(case: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    job, rows = request.getfixturevalue(case)
    rows = cast_rows(rows)
    config, archive = _backed_up(tmp_path, job)
    _forge(archive)
    done = corral("restore", job["job"], "--target", "proof_src", "--as", "proof_back", "-c", str(config))
    _refused(done, archive)
    assert rows("proof_back") in (None, []), "the forged data is in the server"

    done = corral("restore", job["job"], "--target", "proof_src", "--as", "proof_back", "--force", "--no-verify",
                  "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert str(rows("proof_back")).count(FORGED.decode()) == 1


def cast_rows(rows: Any) -> Callable[[str], list[Any] | None]:
    return rows  # type: ignore[no-any-return]
