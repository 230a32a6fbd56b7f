import subprocess

import pymysql

from corral_testservers import MariaDB


def _write_and_read(server: MariaDB, value: str) -> list[str]:
    conn = pymysql.connect(**server.connect_kwargs(), autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE smoke")
            cur.execute("CREATE TABLE smoke.t (id INT PRIMARY KEY, v VARCHAR(40))")
            cur.execute("INSERT INTO smoke.t VALUES (1, %s)", (value,))
            cur.execute("SELECT v FROM smoke.t")
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def test_two_independent_mariadb_servers(mariadb_server: MariaDB, mariadb_server2: MariaDB) -> None:
    assert mariadb_server.port != mariadb_server2.port
    assert mariadb_server.datadir != mariadb_server2.datadir
    assert _write_and_read(mariadb_server, "first") == ["first"]
    assert _write_and_read(mariadb_server2, "second") == ["second"]
    assert (mariadb_server.datadir / "smoke").is_dir()
    # the CLI tools read the credentials from the option file (no password in argv)
    out = subprocess.run(
        ["mariadb", f"--defaults-extra-file={mariadb_server.defaults_file}", "-N", "-e",
         "SELECT v FROM smoke.t"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "first"
