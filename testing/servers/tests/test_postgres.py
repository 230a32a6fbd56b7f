import os
import subprocess
from pathlib import Path

import psycopg

from corral_testservers import Postgres


def test_postgres_write_read_and_basebackup(postgres_server: Postgres, tmp_path: Path) -> None:
    with psycopg.connect(**postgres_server.connect_kwargs(), autocommit=True) as conn:
        conn.execute("CREATE TABLE smoke (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO smoke VALUES (1, 'hello')")
        assert conn.execute("SELECT v FROM smoke").fetchall() == [("hello",)]
        assert conn.execute("SHOW wal_level").fetchone() == ("replica",)
    env = {**os.environ, **postgres_server.env()}
    pg_basebackup = postgres_server.bin_dir / "pg_basebackup"
    subprocess.run(
        [pg_basebackup, "-D", tmp_path / "base", "-Ft", "-z", "-X", "stream", "-c", "fast"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    assert (tmp_path / "base" / "base.tar.gz").stat().st_size > 0
