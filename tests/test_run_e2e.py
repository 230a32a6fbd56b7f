"""corral start end to end: selection, order, exit codes, log file, storage failures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from corral.testing.cli import corral, local_storage, write_main
from tests.conftest import report_json, script


def external(name: str, dump_cmd: str, backups: Path) -> dict:
    return {"job": name, "type": "external", "dump_cmd": dump_cmd, "storages": [local_storage(backups)]}


def files_job(name: str, target: str, storages: list[dict]) -> dict:
    return {"job": name, "type": "desc_files", "sources": [{"target": [target], "gzip": True}], "storages": storages}


def test_all_runs_files_then_databases_then_external(tmp_path: Path, sites: Path) -> None:
    backups = tmp_path / "backups"
    ext = script(tmp_path / "ext.sh", 'echo x > "$CORRAL_TMP_DIR/x.txt"\n' + report_json("$CORRAL_TMP_DIR/x.txt", "x"))
    jobs = [external("ext-first-in-file", ext, backups), files_job("sites", f"{sites}/*/", [local_storage(backups)])]
    main = write_main(tmp_path, jobs)
    done = corral("start", "--verbose", "-c", str(main))
    assert done.returncode == 0, done.stderr
    started = re.findall(r"\[INFO\] \[([^]]+)\] job started", done.stderr)
    assert started == ["sites", "ext-first-in-file"]
    log = (tmp_path / "log" / "corral.log").read_text()
    assert "[INFO] [sites] storage local: stored" in log
    assert "run finished" in log

    only_files = corral("start", "files", "-v", "-c", str(main))
    assert re.findall(r"\[INFO\] \[([^]]+)\] job started", only_files.stderr) == ["sites"]
    only_ext = corral("start", "ext-first-in-file", "-v", "-c", str(main))
    assert "[sites]" not in only_ext.stderr and only_ext.returncode == 0


def test_unknown_job_name_is_a_usage_error(tmp_path: Path, sites: Path) -> None:
    main = write_main(tmp_path, [files_job("sites", str(sites), [local_storage(tmp_path / "b")])])
    done = corral("start", "nope", "-c", str(main))
    assert done.returncode == 2
    assert done.stderr.strip().endswith("no job named `nope` (jobs: sites; or all, files, databases, external)")


def test_a_failing_storage_does_not_stop_the_others_or_the_next_job(tmp_path: Path, sites: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    good, also_good = tmp_path / "good", tmp_path / "also-good"
    jobs = [
        files_job("sites", f"{sites}/*/", [local_storage(blocker / "sub"), local_storage(good)]),
        files_job("more", f"{sites}/alpha", [local_storage(also_good)]),
    ]
    main = write_main(tmp_path, jobs)
    done = corral("start", "-c", str(main))
    assert done.returncode == 1
    archives = sorted(p.relative_to(good) for p in good.rglob("*.tar.gz"))
    assert [a.parts[:2] for a in archives] == [("sites", "alpha"), ("sites", "beta")]
    assert len(list(also_good.rglob("*.tar.gz"))) == 1
    assert "[ERROR] [sites] storage local: target alpha: upload failed:" in done.stderr
    for archive in good.rglob("*.tar.gz"):
        subprocess.run(["tar", "-tzf", str(archive)], check=True, capture_output=True)
    log = (tmp_path / "log" / "corral.log").read_text()
    assert "[ERROR] run finished" in log and "1 job(s) failed: sites" in log


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    main = tmp_path / "corral.conf"
    main.write_text("main:\n  cpu_shares: lots\njobs:\n- job: x\n  type: desc_files\n  sources: [{target: [/a]}]\n"
                    "  storages: [{storage: local, backup_dir: /b, stor: {days: 1}}]\n")
    done = corral("start", "-c", str(main))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"corral: error: {main}:2: main: `cpu_shares`: Input should be a valid integer, unable to parse string as an "
        "integer (got 'lots')",
        f"corral: error: {main}:7: job `x`: unknown key `storages[0].stor`; did you mean `store`?",
    ]


def test_retention_over_daily_runs_on_a_real_storage(tmp_path: Path) -> None:
    """Three weeks of runs keeping 3 days and 2 weeks: what is left is what the calendar says."""
    backups = tmp_path / "backups"
    ext = script(tmp_path / "ext.sh", 'echo x > "$CORRAL_TMP_DIR/x.txt"\n' + report_json("$CORRAL_TMP_DIR/x.txt", "x"))
    job = external("daily", ext, backups)
    job["storages"][0]["store"] = {"days": 3, "weeks": 2}
    main = write_main(tmp_path, [job])
    for day in (1, 2, 8, 9, 15, 16, 19, 20, 21):  # 2026-03-01 is a Sunday
        done = corral("start", "-c", str(main), env={"CORRAL_NOW": f"2026-03-{day:02d}T03:00:00"})
        assert done.returncode == 0, done.stderr
    left = sorted(p.name for p in (backups / "daily" / "x").iterdir())
    assert left == [f"x_2026-03-{d:02d}_03-00-00.txt" for d in (8, 15, 19, 20, 21)]


def test_a_terminal_gets_progress_and_a_table_cron_gets_plain_lines(tmp_path: Path, sites: Path) -> None:
    main = write_main(tmp_path, [files_job("sites", f"{sites}/*/", [local_storage(tmp_path / "b")])])
    command = f"{sys.executable} -m corral start -c {main}"
    tty = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True, timeout=120)
    assert tty.returncode == 0, tty.stdout
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", tty.stdout)
    assert "corral run: OK (1 job(s))" in screen and "┃ job" in screen and "│ sites │ ok" in screen
    assert "storage local: stored" in screen  # a terminal shows the log as it goes
    plain = corral("start", "-c", str(main), "--verbose")  # under cron, the summary only when asked or failed
    lines = plain.stdout.splitlines()
    assert lines[:2] == ["OK (1 job(s))", "job\tresult\tarchives\ttime\tfirst error"]
    assert lines[2] == "sites\tok\t2\t" + lines[2].split("\t")[3]
    assert "\x1b[" not in plain.stderr and "┃" not in plain.stdout
