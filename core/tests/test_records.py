"""Run records' names, the rule retention applies to them, and their caps (docs/run-records.md).

The end-to-end proofs (real `corral start`, `verify` and `drill` on local, SFTP and S3) are in
``tests/test_run_records_e2e.py``.
"""

from __future__ import annotations

from datetime import datetime

from corral.archive import RemoteFile, target_problem
from corral.config.models import Store
from corral.records import MAX_LINES, _lines, expired_records, parse_record, record_path, server_part
from corral.storage_defaults import orphaned_upload, partial_name


def test_record_names_retention_rule_and_caps() -> None:
    root = "/b/job"
    assert server_part("web 1/ü") == "web_1__" and server_part("..") == "server"
    named = record_path(root, "2026-01-02_03-00-00", "web 1", "start")
    assert named == "/b/job/.runs/2026-01-02_03-00-00.web_1.start.json", named
    made = parse_record(RemoteFile("/b/job/.runs/2026-01-02_03-00-00.a.b.verify.json", 10), root)
    assert made is not None and (made.server, made.kind, made.stamp) == ("a.b", "verify", "2026-01-02_03-00-00")
    for path, link in (("/b/job/.runs/2026-01-02_03-00-00.a.start.json", True),  # a link: never ours
                       ("/b/job/x/.runs/2026-01-02_03-00-00.a.start.json", False),  # another folder
                       ("/b/job/.runs/2026-02-30_03-00-00.a.start.json", False),  # no such day
                       ("/b/job/.runs/2026-01-02_03-00-00.a.restore.json", False)):  # no such kind
        assert parse_record(RemoteFile(path, 10, link), root) is None, path
    files = [RemoteFile(f"/b/job/.runs/2026-01-0{day}_03-00-00.{server}.{kind}.json", 10)
             for day in (1, 2, 3) for server in ("web1", "web2") for kind in ("start", "drill")]
    files = [f for f in files if not (".drill." in f.path and "-03_" in f.path)]  # the drill ran on days 1 and 2
    now = datetime(2026, 1, 3, 3, 0)
    doomed = expired_records(files, root, Store(days=1), now, 7, "web1", kept_stamps=set())
    assert sorted(doomed) == ["/b/job/.runs/2026-01-01_03-00-00.web1.drill.json",  # the newest drill stays
                              "/b/job/.runs/2026-01-01_03-00-00.web1.start.json",
                              "/b/job/.runs/2026-01-02_03-00-00.web1.start.json"], doomed  # web2's: never
    assert expired_records(files, root, Store(), now, 7, "web1", set()) == []  # no store: nothing deleted
    kept = expired_records(files, root, Store(days=1), now, 7, "web1", kept_stamps={"2026-01-01_03-00-00"})
    assert not any("2026-01-01" in path for path in kept)  # an archive of that run is still stored
    capped = _lines([f"line {n} " + "x" * 900 for n in range(80)])
    assert len(capped) == MAX_LINES and capped[-1].startswith("... and 31 more line(s)")
    assert all(len(line) <= 500 for line in capped)



def test_an_interrupted_records_temp_file_is_rotations_to_remove() -> None:
    record = "/b/job/.runs/2026-01-02_03-00-00.web1.start.json"
    assert orphaned_upload(RemoteFile(partial_name(record), 10), "/b/job", None)
    assert not orphaned_upload(RemoteFile(partial_name("/b/job/.runs/notes.txt"), 10), "/b/job", None)
    assert not orphaned_upload(RemoteFile(partial_name(record), 10, link=True), "/b/job", None)


def test_rotation_leaves_the_records_temp_file_of_another_server_sharing_the_folder() -> None:
    """Servers sharing a job folder rotate at the start of their jobs and write their records at the end: one
    server's rotation deleted the temp file of the record another was writing that moment (its record lost)."""
    record = RemoteFile(partial_name("/b/job/.runs/2026-01-02_03-00-00.web_2.start.json"), 10)
    assert not orphaned_upload(record, "/b/job", None, "web-1")
    assert orphaned_upload(record, "/b/job", None, "web 2")  # its own (as server_part names it)


def test_no_target_takes_the_records_folder() -> None:
    assert target_problem(".runs") is not None


def test_a_job_of_many_targets_lists_the_failed_first_and_counts_the_rest() -> None:
    from corral.records import MAX_TARGETS, _targets

    many = [{"target": f"site{n:03}", "outcome": "failed" if n in (7, 250) else "ok"} for n in range(300)]
    kept = _targets(many)
    assert kept["targets_left_out"] == 300 - MAX_TARGETS and len(kept["targets"]) == MAX_TARGETS
    names = [t["target"] for t in kept["targets"]]
    assert "site250" in names and "site007" in names and names == sorted(names)
    assert _targets(many[:3]) == {"targets": many[:3], "targets_left_out": 0}


def test_a_record_stays_under_its_byte_cap() -> None:
    from corral.records import MAX_BYTES, render

    line = "x" * 500
    record = {"format": 1, "errors": [line] * 50,
              "targets": [{"target": f"t{n}", "errors": [line] * 50} for n in range(100)]}  # fmt: skip
    text = render(record)
    assert len(text.encode()) <= MAX_BYTES and record["errors"] == [line] * 50
