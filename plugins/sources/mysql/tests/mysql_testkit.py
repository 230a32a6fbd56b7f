"""What the MySQL plugin's tests share: awkward data, a snapshot to compare, the real corral command, restores."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pymysql
import yaml

from corral_testservers import MariaDB

CORRAL = Path(sys.executable).with_name("corral")
NOW = "2026-01-31T03:00:00"
STAMP = "2026-01-31_03-00-00"
ARTICLE_EXTRA_KEYS = (
    "--opt --add-drop-database --routines --comments --create-options --quote-names --order-by-primary --hex-blob"
)
LARGE_ROW = 5 * 1024 * 1024  # one 5 MiB blob: 10 MiB as a hex INSERT, under the 16 MiB max_allowed_packet

NAMES = [
    "Zoë 😀 emoji", "Ωμέγα", "山田太郎", "عربي", "O'Brien \"quoted\"", "back\\slash", "tab\there", "new\nline",
    "", "percent % underscore _", "semi;colon -- not a comment", "/* not a comment */",
]


def write_config(tmp_path: Path, jobs: list[dict[str, Any]], name: str = "corral.conf") -> Path:
    """A main file in the article's format whose jobs are given as data (so awkward secrets are quoted right)."""
    (tmp_path / "conf.d").mkdir(exist_ok=True)
    (tmp_path / "conf.d" / f"{name}.jobs.conf").write_text(yaml.safe_dump(jobs, allow_unicode=True, sort_keys=False))
    main = tmp_path / name
    main.write_text(
        "main:\n"
        "  server_name: test\n"
        f"  general_path_to_all_tmp_dir: {tmp_path / 'tmp'}\n"
        f"  lock_file: {tmp_path / 'corral.lock'}\n"
        f"jobs: !include [conf.d/{name}.jobs.conf]\n"
    )
    return main


def drill_tmp(tmp_path: Path, *jobs: str) -> None:
    """The work area of :func:`write_config` and its jobs' folders, 0711: the drill's throwaway server runs as
    ``mysql`` (when the tests run as root), which must traverse them to its folder in the scratch."""
    for folder in (tmp_path / "tmp", *(tmp_path / "tmp" / job for job in jobs)):
        folder.mkdir(mode=0o711, exist_ok=True)
        folder.chmod(0o711)


def local_storage(backup_dir: Path) -> dict[str, Any]:
    return {"storage": "local", "backup_dir": str(backup_dir), "store": {"days": 6, "weeks": 4, "month": 6}}


def run_corral(config: Path, job: str, **popen: Any) -> subprocess.CompletedProcess[str]:
    """``corral start -v -c CONFIG JOB`` (the whole log on stderr), with the run's date fixed."""
    env = {**popen.pop("env", {}), "CORRAL_NOW": NOW}
    return subprocess.run(
        [str(CORRAL), "start", "-v", "-c", str(config), job], capture_output=True, text=True, timeout=600,
        env={**os.environ, **env}, **popen,
    )  # fmt: skip


def stored(backup_dir: Path, job: str) -> dict[str, Path]:
    """Stored archives of a job by target name (``<dir>/<job>/<target>/<target>_<stamp>.<ext>``)."""
    found = {}
    for path in sorted((backup_dir / job).glob("*/*")):
        if path.parent.name in (".manifests", ".runs"):  # the checksums and run records beside the archives
            continue
        assert path.name.startswith(f"{path.parent.name}_{STAMP}."), path
        found[path.parent.name] = path
    return found


def connect(server: MariaDB, database: str | None = None) -> pymysql.Connection[Any]:
    return pymysql.connect(**server.connect_kwargs(), database=database, charset="utf8mb4", autocommit=True,
                           max_allowed_packet=64 * 1024 * 1024)


def execute(server: MariaDB, *statements: str, database: str | None = None) -> list[tuple[Any, ...]]:
    """Run statements; returns the rows of the last one."""
    conn = connect(server, database)
    try:
        with conn.cursor() as cur:
            rows: list[tuple[Any, ...]] = []
            for statement in statements:
                cur.execute(statement)
                rows = list(cur.fetchall())
            return rows
    finally:
        conn.close()


def drop(server: MariaDB, *databases: str) -> None:
    execute(server, *[f"DROP DATABASE IF EXISTS `{db}`" for db in databases])


def load_awkward(server: MariaDB, db: str, *, seed: int = 1) -> None:
    """A database with what breaks naive dumps: unicode, quotes and escapes, binary blobs (every byte value,
    empty, NULL, a large row), JSON, BIT, DECIMAL, a MyISAM table, a view, a procedure, a function, a trigger."""
    rng = random.Random(seed)
    conn = connect(server)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            cur.execute(f"USE `{db}`")
            cur.execute(
                "CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL, note TEXT,"
                " born DATE, seen DATETIME(6), price DECIMAL(20,6), ratio DOUBLE, flags BIT(3), doc JSON,"
                " maybe VARCHAR(10) NULL) ENGINE=InnoDB"
            )
            cur.execute("CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT,"
                        " what VARCHAR(200)) ENGINE=InnoDB")
            cur.execute("CREATE TABLE blobs (id INT PRIMARY KEY, data LONGBLOB) ENGINE=InnoDB")
            cur.execute("CREATE TABLE legacy (id INT PRIMARY KEY, txt VARCHAR(50)) ENGINE=MyISAM")
            cur.execute("CREATE TRIGGER customers_audit AFTER INSERT ON customers FOR EACH ROW"
                        " INSERT INTO audit (customer_id, what) VALUES (NEW.id, CONCAT('created ', NEW.name))")
            cur.execute("CREATE VIEW rich_customers AS SELECT id, name, price FROM customers WHERE price > 100")
            cur.execute("CREATE PROCEDURE add_customer(IN n VARCHAR(100), IN p DECIMAL(20,6))"
                        " BEGIN INSERT INTO customers (name, price) VALUES (n, p); END")
            cur.execute("CREATE FUNCTION double_it(x INT) RETURNS INT DETERMINISTIC RETURN x * 2")
            for index, name in enumerate(NAMES):
                cur.execute(
                    "INSERT INTO customers (name, note, born, seen, price, ratio, flags, doc, maybe)"
                    " VALUES (%s, %s, %s, %s, %s, %s, b'101', %s, %s)",
                    (name, f"note {index}: {name}\x00nul\r\n\\N", f"19{70 + index}-0{1 + index % 9}-1{index % 10}",
                     f"2026-01-0{1 + index % 9} 12:34:56.{index:06d}", f"{index * 123.456789:.6f}",
                     index / 7, json.dumps({"k": name, "n": index}, ensure_ascii=False),
                     None if index % 2 else "x"),
                )  # fmt: skip
            cur.execute("CALL add_customer('via procedure ✓', 999.5)")
            blobs = [bytes(range(256)), b"", None, b"\x00" * 1000, rng.randbytes(65536), rng.randbytes(LARGE_ROW),
                     b"'\"\\\n\r\x1a"]
            for index, blob in enumerate(blobs):
                cur.execute("INSERT INTO blobs VALUES (%s, %s)", (index, blob))
            cur.executemany("INSERT INTO legacy VALUES (%s, %s)", [(i, f"myisam {i} ß") for i in range(50)])
    finally:
        conn.close()


def _digest(value: Any) -> Any:
    if isinstance(value, bytes | str) and len(value) > 1024:
        raw = value if isinstance(value, bytes) else value.encode()
        return f"{type(value).__name__}:{len(raw)}:{hashlib.sha256(raw).hexdigest()}"
    return value


def snapshot(server: MariaDB, db: str) -> dict[str, Any]:
    """Everything a restore must bring back: table definitions and rows, views, routines, triggers, charset."""
    conn = connect(server, db)
    try:
        with conn.cursor() as cur:
            shot: dict[str, Any] = {}
            cur.execute("SHOW FULL TABLES")
            tables = sorted(cur.fetchall())
            shot["tables"] = tables
            for name, kind in tables:
                if kind != "BASE TABLE":
                    continue
                cur.execute(f"SHOW CREATE TABLE `{name}`")
                shot[f"create {name}"] = cur.fetchone()[1]
                cur.execute(f"SELECT * FROM `{name}` ORDER BY 1")
                shot[f"rows {name}"] = [tuple(_digest(v) for v in row) for row in cur.fetchall()]
            queries = {
                "schema": "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA"
                          " WHERE SCHEMA_NAME = %s",
                "views": "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s"
                         " ORDER BY 1",
                "routines": "SELECT ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION, DTD_IDENTIFIER, IS_DETERMINISTIC"
                            " FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s ORDER BY 1",
                "triggers": "SELECT TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_TIMING,"
                            " ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s ORDER BY 1",
            }
            for key, sql in queries.items():
                cur.execute(sql, (db,))
                shot[key] = cur.fetchall()
            return shot
    finally:
        conn.close()


def decompress_command(archive: Path) -> list[str]:
    if archive.name.endswith(".zst"):
        return ["zstd", "-dc", str(archive)]
    if archive.name.endswith(".gz"):
        return ["gzip", "-dc", str(archive)]
    return ["cat", str(archive)]


def restore_sql(archive: Path, server: MariaDB) -> None:
    """What a user types: ``zstd -dc X.sql.zst | mariadb`` (the dump recreates the database by name)."""
    unpack = subprocess.Popen(decompress_command(archive), stdout=subprocess.PIPE)
    try:
        subprocess.run(["mariadb", f"--defaults-extra-file={server.defaults_file}"], stdin=unpack.stdout,
                       check=True, capture_output=True, timeout=300)
    finally:
        assert unpack.stdout is not None
        unpack.stdout.close()
        assert unpack.wait() == 0


def manifest_facts(backup_dir: Path, job: str) -> dict[str, dict[str, Any]]:
    """The ``facts`` of each archive in the run's JSON manifest, by target."""
    record = json.loads((backup_dir / job / ".manifests" / f"{STAMP}.json").read_text())
    return {entry["target"]: entry["facts"] for entry in record["archives"]}
