"""Configuration: the article's keys and template, one-line validation errors, option files the real parser
reads back unchanged. No server needed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from mysql_testkit import ARTICLE_EXTRA_KEYS, CORRAL

from corral import DumpError
from corral.config import load_config
from corral.errors import ConfigError
from corral_source_mysql.dump import dump_command, select_databases
from corral_source_mysql.optionfile import option_file, option_text
from corral_source_mysql.options import Connect
from corral_testservers.prerequisites import require_executable

ARTICLE_JOB = Path(__file__).parents[4] / "docs" / "examples" / "article" / "conf.d" / "bitrix-mysql.conf"


def _main(tmp_path: Path, job_text: str) -> Path:
    (tmp_path / "job.conf").write_text(job_text)
    main = tmp_path / "corral.conf"
    main.write_text(f"main:\n  general_path_to_all_tmp_dir: {tmp_path}\njobs: !include [job.conf]\n")
    return main


def test_generate_gives_the_articles_template(tmp_path: Path) -> None:
    done = subprocess.run([str(CORRAL), "generate", "--type", "mysql", "--storage", "local"],
                          capture_output=True, text=True, check=True)
    (job,) = yaml.safe_load(done.stdout)
    assert job["type"] == "mysql"
    (source,) = job["sources"]
    assert list(source) == ["connect", "target", "excludes", "gzip", "compression", "is_slave", "extra_keys", "name"]
    assert list(source["connect"]) == ["db_host", "db_port", "socket", "db_user", "db_password", "auth_file"]
    assert source["target"] == ["all"]
    assert source["excludes"] == ["information_schema", "performance_schema", "mysql", "sys"]
    assert source["gzip"] is False and source["is_slave"] is False
    assert source["extra_keys"] == ARTICLE_EXTRA_KEYS
    assert "db_password: ''  # password (never shown in logs or in `ps`)" in done.stdout
    # the template, as generated, is a valid job
    config = load_config(_main(tmp_path, done.stdout))
    (loaded,) = config.jobs[0].sources
    assert loaded.connect.db_host == "localhost" and loaded.codec_name == "none"


def test_generate_xtradb_template_is_valid(tmp_path: Path) -> None:
    done = subprocess.run([str(CORRAL), "generate", "--type", "mysql_xtradb", "--storage", "local"],
                          capture_output=True, text=True, check=True)
    (source,) = load_config(_main(tmp_path, done.stdout)).jobs[0].sources
    assert source.archive_target() == "xtradb_localhost_3306"


def test_the_articles_mysql_job_loads(tmp_path: Path) -> None:
    text = ARTICLE_JOB.read_text()
    text = text[: text.index("    storages:")] + f"    storages:\n    - storage: local\n      backup_dir: {tmp_path}\n"
    (job,) = load_config(_main(tmp_path, text)).jobs
    first, second = job.sources
    assert (first.connect.db_port, second.connect.db_port) == (3306, 3307)
    assert first.connect.db_password.get_secret_value() == "password_1"
    assert (first.target, second.target) == (["bitrix_1_db"], ["bitrix_2_db"])
    assert (first.codec_name, second.codec_name) == ("none", "gzip")
    assert job.group == "databases"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("connect: {db_user: u}\n    gzip: yes\n    compression: zstd",
         "`gzip: yes` contradicts `compression: zstd`; keep one"),
        ("connect: {db_pasword: x}", "unknown key `sources[0].connect.db_pasword`; did you mean `db_password`?"),
        ("connect: {db_port: 70000}", "`sources[0].connect.db_port`: Input should be less than or equal to 65535"),
        ("extra_keys: \"--where='x\"", "`sources[0].extra_keys`: cannot split into arguments: No closing quotation"),
        ("target: []", "`sources[0].target`: List should have at least 1 item"),
        ("compression: lz4", "`sources[0].compression`: Input should be 'none', 'gzip' or 'zstd'"),
    ],
)
def test_bad_keys_are_one_line_errors(tmp_path: Path, source: str, expected: str) -> None:
    job = f"- job: shop\n  type: mysql\n  sources:\n  - {source}\n  storages:\n  - storage: local\n    backup_dir: /b\n"
    with pytest.raises(ConfigError) as caught:
        load_config(_main(tmp_path, job))
    (problem,) = caught.value.problems
    assert problem.startswith(f"{tmp_path / 'job.conf'}:")
    assert "job `shop`: " in problem and expected in problem, problem


def test_a_bad_password_value_is_never_echoed(tmp_path: Path) -> None:
    job = ("- job: shop\n  type: mysql\n  sources:\n  - connect:\n      db_password: [t0p-s3cret]\n"
           "  storages:\n  - storage: local\n    backup_dir: /b\n")
    with pytest.raises(ConfigError) as caught:
        load_config(_main(tmp_path, job))
    assert "db_password" in str(caught.value) and "t0p-s3cret" not in str(caught.value)


def test_target_all_expands_minus_excludes_and_reports_missing_names() -> None:
    present = ["information_schema", "shop", "mysql", "tmp_1", "wiki", "performance_schema", "sys"]
    excludes = ["information_schema", "performance_schema", "mysql", "sys", "tmp_*"]
    assert select_databases(["all"], excludes, present) == (["shop", "wiki"], [])
    assert select_databases(["wiki", "all", "gone", "mysql"], excludes, present) == (["wiki", "shop", "mysql"],
                                                                                      ["gone"])


def test_single_transaction_unless_the_user_chose_locking() -> None:
    opts = Path("/t/o.cnf")
    assert dump_command("mariadb-dump", opts, "--routines", "db") == [
        "mariadb-dump", "--defaults-file=/t/o.cnf", "--routines", "--single-transaction", "--databases", "--", "db"]
    assert "--single-transaction" not in dump_command("mysqldump", opts, "--opt --lock-all-tables", "-db")
    assert dump_command("mysqldump", opts, "--where='a = 1'", "x")[2] == "--where=a = 1"


AWKWARD = ' pa"ss\\wo#rd \'ü😀 $HOME; x=1 \t'


def test_option_file_reads_back_unchanged_with_the_real_parser(tmp_path: Path) -> None:
    parser = require_executable("my_print_defaults", apt="mariadb-client")
    auth = tmp_path / "auth.cnf"
    auth.write_text("[client]\nuser=from_auth_file\npassword=from_auth_file\nport=1\n")
    connect = Connect(db_host="db.example", db_user="us er#1", db_password=AWKWARD, auth_file=auth)
    with option_file(tmp_path, connect) as path:
        assert path.stat().st_mode & 0o777 == 0o600
        shown = subprocess.run([parser, f"--defaults-file={path}", "client"],
                               capture_output=True, text=True, check=True).stdout.splitlines()
    assert not path.exists()
    last = {}
    for line in shown:
        key, _, value = line.partition("=")
        last[key] = value
    assert last["--password"] == AWKWARD  # the connect keys come after auth_file, so they win
    assert last["--user"] == "us er#1"
    assert last["--host"] == "db.example"
    assert last["--port"] == "1"  # from auth_file: connect left it empty


def test_a_missing_auth_file_is_a_one_line_error() -> None:
    with pytest.raises(DumpError, match=re.escape("connect.auth_file `/nonexistent.cnf` is not a readable file")):
        option_text(Connect(auth_file=Path("/nonexistent.cnf")))


def test_a_port_means_tcp_even_for_localhost() -> None:
    """The article's two instances are `localhost` on 3306 and 3307: the clients must not use the socket."""
    assert 'protocol="TCP"' in option_text(Connect(db_host="localhost", db_port=3307))
    assert "protocol" not in option_text(Connect(db_host="localhost"))
    assert "protocol" not in option_text(Connect(socket=Path("/run/mysqld/mysqld.sock"), db_port=3307))
    assert Connect(db_host="localhost", db_port=3307).where() == "localhost:3307"
    assert Connect(db_host="localhost").where() == "localhost (default socket)"
