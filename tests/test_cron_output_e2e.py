"""Under cron (no terminal) a good night prints nothing, so that cron mails only the nights that need the admin.

A failed run prints its errors on stderr and the verdict and summary on stdout; ``--verbose`` prints the whole log
and the summary; ``--quiet`` prints nothing (the exit code and the log tell). The log file always gets everything.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.testing.cli import corral, local_storage, write_main
from tests.conftest import report_json, script


@pytest.fixture
def config(tmp_path: Path) -> Path:
    dump = 'echo x > "$CORRAL_TMP_DIR/x.txt"\n' + report_json("$CORRAL_TMP_DIR/x.txt", "x")
    good = script(tmp_path / "good.sh", dump)
    return write_main(tmp_path, [{"job": "db", "type": "external", "dump_cmd": good,
                                  "storages": [local_storage(tmp_path / "b")]}])


def _break(config: Path, tmp_path: Path) -> None:
    bad = script(tmp_path / "bad.sh", "echo 'mysqldump: Access denied' >&2\nexit 2\n")
    config.write_text(config.read_text().replace(str(tmp_path / "good.sh"), bad))


def _log(tmp_path: Path) -> str:
    return (tmp_path / "log" / "corral.log").read_text()


def test_a_good_night_prints_nothing(config: Path, tmp_path: Path) -> None:
    done = corral("start", "-c", str(config))
    assert done.returncode == 0
    assert (done.stdout, done.stderr) == ("", "")
    assert "[INFO] [db] storage local: stored" in _log(tmp_path)


def test_a_failed_night_prints_the_errors_and_the_summary(config: Path, tmp_path: Path) -> None:
    _break(config, tmp_path)
    done = corral("start", "-c", str(config))
    assert done.returncode == 1
    assert done.stderr and all("[ERROR]" in line for line in done.stderr.splitlines()), done.stderr
    assert "[ERROR] [db] dump: dump_cmd exited with code 2: mysqldump: Access denied" in done.stderr
    verdict, header, row = done.stdout.splitlines()
    assert verdict == "FAILED: db (1 of 1 job(s))"
    assert header.split("\t") == ["job", "result", "archives", "time", "first error"]
    assert row.split("\t")[:3] == ["db", "FAILED", "0"]
    assert row.split("\t")[4] == "dump: dump_cmd exited with code 2: mysqldump: Access denied"
    assert "[INFO] [db] job started (type external)" in _log(tmp_path)


def test_verbose_prints_the_log_and_the_summary(config: Path, tmp_path: Path) -> None:
    done = corral("start", "--verbose", "-c", str(config))
    assert done.returncode == 0
    assert "[INFO] [db] storage local: stored" in done.stderr
    assert done.stdout.splitlines()[0] == "OK (1 job(s))"


def test_quiet_prints_nothing_even_on_failure(config: Path, tmp_path: Path) -> None:
    _break(config, tmp_path)
    done = corral("start", "-q", "-c", str(config))
    assert done.returncode == 1
    assert (done.stdout, done.stderr) == ("", "")
    assert "[ERROR] [db] dump: dump_cmd exited with code 2" in _log(tmp_path)


def test_verbose_and_quiet_together_is_a_usage_error(config: Path) -> None:
    done = corral("start", "-v", "-q", "-c", str(config))
    assert done.returncode == 2
    assert done.stderr == "corral: error: --verbose and --quiet contradict each other; give one\n"


@pytest.mark.parametrize("selection", ["all", "files"])
def test_a_night_that_ran_no_job_is_said(tmp_path: Path, selection: str) -> None:
    """An include that matched nothing (conf.d moved, a typo in the glob) or `start files` on a server with none:
    exit 0 as before, but cron mails the verdict, not a silent success that backed up nothing."""
    (tmp_path / "conf.d").mkdir()
    main = tmp_path / "corral.conf"
    main.write_text(f"main:\n  general_path_to_all_tmp_dir: {tmp_path}/tmp\njobs: !include [conf.d/*.conf]\n")
    done = corral("start", selection, "-c", str(main))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["NO JOB RAN: the configuration selects none (0 job(s))"], done.stdout
    assert corral("start", selection, "-c", str(main), "--quiet").stdout == ""
