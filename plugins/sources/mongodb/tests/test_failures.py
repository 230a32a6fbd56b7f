"""What a person sees when a source fails: one line naming the job, the source and the cause; the other sources
still run; the password shows up nowhere."""

from __future__ import annotations

import re
from pathlib import Path

from mongodb_testkit import STAMP, mongo_job, mongo_source, run_corral

from corral.testing.cli import corral
from corral_testservers import Mongo
from corral_testservers.ports import free_port


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "[ERROR]" in line]


def test_wrong_password_fails_that_source_and_the_next_source_still_runs(tmp_path: Path, source_mongo: Mongo) -> None:
    wrong = "not-the-password-" + source_mongo.password[:4]
    backups = tmp_path / "backups"
    sources = [
        mongo_source(source_mongo, target=["shop"], connect={"db_password": wrong}),
        mongo_source(source_mongo, target=["blög"]),
    ]
    done = run_corral(tmp_path, [mongo_job("mongo-app", sources, backups)], secrets=[wrong, source_mongo.password])
    assert done.returncode == 1
    errors = error_lines(done.stderr)
    assert re.search(r"\[ERROR\] \[mongo-app\] source 1: authentication failed for user `corral` "
                     r"\(auth_db `admin`\) on 127\.0\.0\.1:\d+$", errors[0]), errors
    assert (backups / "mongo-app" / "blög" / f"blög_{STAMP}.tar").is_file()
    assert not (backups / "mongo-app" / "shop").exists()
    log = (tmp_path / "log" / "corral.log").read_text()
    for text in (done.stderr, done.stdout, log):
        assert wrong not in text and source_mongo.password not in text


def test_missing_database_and_unreachable_server_are_one_line_each(tmp_path: Path, source_mongo: Mongo) -> None:
    backups = tmp_path / "backups"
    closed_port = free_port()
    sources = [
        mongo_source(source_mongo, target=["no_such_db", "blög"]),
        mongo_source(source_mongo, target=["all"], connect={"db_port": closed_port}),
    ]
    done = run_corral(tmp_path, [mongo_job("mongo", sources, backups)])
    assert done.returncode == 1
    errors = error_lines(done.stderr)
    assert any(line.endswith(f"[mongo] source 1: target no_such_db: database `no_such_db` does not exist on "
                             f"127.0.0.1:{source_mongo.port}") for line in errors), errors
    assert any(line.endswith(f"[mongo] source 2: cannot connect to 127.0.0.1:{closed_port}: Connection refused")
               for line in errors), errors
    assert (backups / "mongo" / "blög" / f"blög_{STAMP}.tar").is_file()


def test_bad_keys_are_reported_before_anything_runs(tmp_path: Path, source_mongo: Mongo) -> None:
    two_codecs = mongo_source(source_mongo, gzip=True, compression="zstd")
    no_password = mongo_source(source_mongo, connect={"db_user": "someone", "db_password": None})
    done = run_corral(tmp_path, [mongo_job("mongo", [two_codecs, no_password], tmp_path / "b")])
    assert done.returncode == 1  # the job cannot run; the others of the configuration would
    assert "[ERROR] [mongo] job cannot run: " in done.stderr and not (tmp_path / "b").exists()
    assert "`gzip: yes` contradicts `compression: zstd`" in done.stderr
    assert "`db_user: someone` needs `db_password` or `auth_file`" in done.stderr


def test_generate_writes_a_filled_template(tmp_path: Path) -> None:
    done = corral("generate", "--type", "mongodb", "--storage", "local")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    lines = [line.split("  #")[0] for line in text.splitlines()]  # values without their comments
    for line in ("  type: mongodb", "  - connect:", "      db_host: localhost", "      db_port: 27017",
                 "      auth_db: admin", "    target:", "    - all", "    excludes:", "    - admin", "    - config",
                 "    - local", "    gzip: no", "  - storage: local"):
        assert line in lines, line
    filled = text.replace("db_user: ''", "db_user: backup").replace("db_password: ''", "db_password: secret")
    filled = filled.replace("/var/corral", str(tmp_path))
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "mongodb.conf").write_text(filled)
    main = tmp_path / "corral.conf"
    main.write_text(f"main:\n  general_path_to_all_tmp_dir: {tmp_path / 'tmp'}\njobs: !include [conf.d/*.conf]\n")
    checked = corral("check", "-c", str(main))
    assert checked.returncode == 0, checked.stdout + checked.stderr
