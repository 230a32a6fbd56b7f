"""A script's report cannot place a file outside the job's folder, and its archive is never lost.

Both through the real ``corral start``: the names a script hands over are checked before anything is written,
and the file it made stays where it is when no storage received it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corral.testing.cli import corral, local_storage, write_main
from corral.testing.trees import snapshot

NOW = "2026-05-01T02:00:00"


def _report_job(tmp_path: Path, name: str, report: dict, storages: list[dict]) -> dict:
    """A job whose script prints ``report`` (escapes such as NUL and lone surrogates stay JSON escapes)."""
    report_file = tmp_path / f"{name}.json"
    report_file.write_text(json.dumps(report) + "\n")
    return {"job": name, "type": "external", "dump_cmd": f"cat '{report_file}'", "storages": storages}


def _outside(tmp_path: Path) -> dict[str, tuple]:
    """Everything under ``tmp_path`` but corral's work area and log, and the run records of the failed jobs
    (docs/run-records.md) with the folders made for them: a record is no archive."""
    found = {k: v for k, v in snapshot(tmp_path).items() if k.split("/")[0] not in ("tmp", "log")}
    records = [k for k in found if "/.runs/" in k and k.endswith(".start.json")]
    return {k: v for k, v in found.items() if "/.runs" not in k and not any(r.startswith(k + "/") for r in records)}


def test_hostile_names_write_nothing_and_fail_their_job_in_one_line(tmp_path: Path) -> None:
    payload = tmp_path / "payload.tar"
    payload.write_text("the script's archive\n")
    good = {"full_path": str(payload), "basename": "t", "extension": "tar"}
    hostile = [
        ("basename", "../../../../escaped-target"),
        ("basename", str(tmp_path / "abs-target")),
        ("basename", "a\x00b"),
        ("basename", "line\nbreak"),
        ("basename", ""),
        ("basename", ".."),
        ("basename", "x" * 300),
        ("basename", "\ud800"),
        ("extension", "tar/../../../../escaped-ext"),
        ("extension", str(tmp_path / "abs-ext")),
        ("extension", "tar\x00"),
        ("extension", "tar\nINJECTED"),
        ("extension", ""),
        ("extension", ".."),
        ("extension", "x" * 5000),
        ("full_path", "\x00"),
        ("full_path", "/" + "x" * 5000),
    ]
    backups = tmp_path / "deep" / "a" / "b" / "c" / "backups"
    jobs = [
        _report_job(tmp_path, f"job-{index}", {**good, key: value}, [local_storage(backups)])
        for index, (key, value) in enumerate(hostile)
    ]
    main = write_main(tmp_path, jobs)
    before = _outside(tmp_path)

    done = corral("start", "all", "-c", str(main), env={"CORRAL_NOW": NOW})

    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert _outside(tmp_path) == before  # nothing written anywhere, in backups or beside them
    assert payload.read_text() == "the script's archive\n"  # nor the script's file touched
    for index, (key, _value) in enumerate(hostile):
        errors = [line for line in done.stderr.splitlines() if f"[ERROR] [job-{index}] dump:" in line]
        cause = "dump_cmd reported" if key == "full_path" else f"dump_cmd's JSON key `{key}`"
        assert len(errors) == 1 and cause in errors[0], (key, errors)
        [summary] = [line for line in done.stdout.splitlines() if line.startswith(f"job-{index}\t")]
        assert "FAILED" in summary and cause in summary
    assert not [line for line in done.stderr.splitlines() if line.startswith(("INJECTED", "break"))]


def test_a_subdir_in_the_report_is_not_part_of_the_protocol(tmp_path: Path) -> None:
    payload = tmp_path / "payload.tar"
    payload.write_text("data\n")
    report = {"full_path": str(payload), "basename": "t", "extension": "tar", "subdir": "../../../../escaped"}
    backups = tmp_path / "backups"
    main = write_main(tmp_path, [_report_job(tmp_path, "ext", report, [local_storage(backups)])])
    done = corral("start", "-v", "-c", str(main), env={"CORRAL_NOW": NOW})
    assert done.returncode == 0, done.stderr
    assert [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*_2026-*")] == [
        "backups/ext/t/t_2026-05-01_02-00-00.tar"
    ]


def _broken_storage(tmp_path: Path) -> dict:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the storage's folder should be\n")
    return local_storage(blocker / "backups")


def test_an_archive_no_storage_received_stays_where_the_script_put_it(tmp_path: Path) -> None:
    made = tmp_path / "exports" / "db.sql"
    made.parent.mkdir()
    made.write_text("the only copy of tonight's dump\n")
    report = {"full_path": str(made), "basename": "db", "extension": "sql"}
    main = write_main(tmp_path, [_report_job(tmp_path, "ext", report, [_broken_storage(tmp_path)])])

    done = corral("start", "-v", "-c", str(main), env={"CORRAL_NOW": NOW})

    assert done.returncode == 1
    assert made.read_text() == "the only copy of tonight's dump\n"
    kept = f"target db: no storage received the archive; it is kept at `{made}`"
    assert f"[ERROR] [ext] {kept}" in done.stderr
    assert kept in (tmp_path / "log" / "corral.log").read_text()


def test_a_file_outside_the_work_dir_stays_once_stored(tmp_path: Path) -> None:
    """Even one the dump just wrote: corral deletes only what is in CORRAL_TMP_DIR."""
    made = tmp_path / "exports" / "db.sql"
    made.parent.mkdir()
    report = {"full_path": str(made), "basename": "db", "extension": "sql"}
    job = _report_job(tmp_path, "ext", report, [_broken_storage(tmp_path), local_storage(tmp_path / "backups")])
    job["dump_cmd"] = f"echo dump > '{made}'; {job['dump_cmd']}"  # the dump makes the file outside the work dir
    main = write_main(tmp_path, [job])

    done = corral("start", "-v", "-c", str(main), env={"CORRAL_NOW": NOW})

    assert done.returncode == 1  # one storage failed
    assert made.read_text() == "dump\n"
    assert (tmp_path / "backups" / "ext" / "db" / "db_2026-05-01_02-00-00.sql").read_text() == "dump\n"
    assert f"target db: `{made}` stays where it is: corral deletes only files in its work folder" in done.stderr
    assert "kept at" not in done.stderr


@pytest.mark.parametrize("shape", ["existing", "link", "hard link"])
def test_a_file_the_dump_did_not_make_is_stored_and_never_deleted(tmp_path: Path, shape: str) -> None:
    """A script that reports `/etc/passwd` (or a link to it) must not make corral delete it after the upload."""
    precious = tmp_path / "etc" / "passwd"
    precious.parent.mkdir()
    precious.write_text("root:x:0:0:root:/root:/bin/bash\n")
    reported = precious
    if shape != "existing":
        reported = tmp_path / "exports" / "db.sql"
        reported.parent.mkdir()
    report = {"full_path": str(reported), "basename": "db", "extension": "sql"}
    job = _report_job(tmp_path, "ext", report, [local_storage(tmp_path / "backups")])
    if shape == "link":
        job["dump_cmd"] = f"ln -s '{precious}' '{reported}'; {job['dump_cmd']}"
    elif shape == "hard link":
        job["dump_cmd"] = f"ln '{precious}' '{reported}'; {job['dump_cmd']}"
    main = write_main(tmp_path, [job])

    done = corral("start", "-v", "-c", str(main), env={"CORRAL_NOW": NOW})

    assert done.returncode == 0, done.stderr
    assert precious.read_text() == "root:x:0:0:root:/root:/bin/bash\n"
    assert reported.exists()
    assert f"target db: `{reported}` stays where it is: corral deletes only files in its work folder" in done.stderr
    stored = tmp_path / "backups" / "ext" / "db" / "db_2026-05-01_02-00-00.sql"
    assert stored.read_text() == "root:x:0:0:root:/root:/bin/bash\n"


def test_an_archive_in_the_work_dir_goes_with_it_even_when_unstored(tmp_path: Path) -> None:
    dump_cmd = (
        'echo dump > "$CORRAL_TMP_DIR/db.sql"; '
        'printf \'{"full_path": "%s/db.sql", "basename": "db", "extension": "sql"}\\n\' "$CORRAL_TMP_DIR"'
    )
    job = {"job": "ext", "type": "external", "dump_cmd": dump_cmd, "storages": [_broken_storage(tmp_path)]}
    main = write_main(tmp_path, [job])

    done = corral("start", "-v", "-c", str(main), env={"CORRAL_NOW": NOW})

    assert done.returncode == 1
    assert "upload failed" in done.stderr and "kept at" not in done.stderr
    assert not list((tmp_path / "tmp").rglob("db.sql"))
