"""Run records (docs/run-records.md) written by the real `corral start`, `verify` and `drill` on local, SFTP and S3
servers: their content, a failing job's masked error, retention removing them with their run, and a storage that
refuses the record leaving the run's outcome alone."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import fsspec

from corral.masking import MASK
from corral.testing.cli import corral, local_storage, write_main
from corral_testservers import S3Server, SSHServer
from tests.conftest import script
from tests.test_remote_storages_e2e import sftp

DAY = "2026-01-31"
NOW = {"CORRAL_NOW": f"{DAY}T03:00:00"}
STAMP = f"{DAY}_03-00-00"
SERVER = "web-1.example.org"
DOC = (Path(__file__).parents[1] / "docs" / "run-records.md").read_text()


def _keys(value: Any, free: bool = False) -> set[str]:
    """Every key of a record, but those of the maps keyed by the user's names (plugins, failed, statuses)."""
    if isinstance(value, list):
        return set().union(*(_keys(item) for item in value)) if value else set()
    if not isinstance(value, dict) or free:
        return set()
    found = set(value)
    for key, item in value.items():
        found |= _keys(item, free=key in ("plugins", "failed", "statuses"))
    return found


def _documented(record: dict[str, Any]) -> None:
    """The format is promised: every key a record holds is named in docs/run-records.md."""
    for key in _keys(record):
        named = (f"`{key}`", f"`{key}[]`", f"`targets[].{key}`")
        assert any(name in DOC for name in named), f"`{key}` is missing from docs/run-records.md"


def s3(server: S3Server, prefix: str) -> dict[str, Any]:
    return {"storage": "s3", "backup_dir": f"/{prefix}", "bucket": server.bucket, "endpoint_url": server.endpoint_url,
            "region": server.region, "access_key_id": server.access_key, "secret_access_key": server.secret_key}


def _three(tmp_path: Path, job: str, sshd: SSHServer, s3_server: S3Server) -> list[dict[str, Any]]:
    return [local_storage(tmp_path / "local"), sftp(sshd), s3(s3_server, f"records-{tmp_path.name[-12:]}")]


def _readers(tmp_path: Path, job: str, sshd: SSHServer, s3_server: S3Server) -> dict[str, Any]:
    """Per storage label, a function listing the job's `.runs` folder: {file name: parsed record}."""
    s3fs = fsspec.filesystem("s3", skip_instance_cache=True, **s3_server.storage_options())
    bucket = f"{s3_server.bucket}/records-{tmp_path.name[-12:]}/{job}/.runs"

    def local(folder: Path) -> dict[str, Any]:
        if not folder.is_dir():
            return {}
        return {p.name: json.loads(p.read_text()) for p in sorted(folder.iterdir())}

    def from_s3() -> dict[str, Any]:
        s3fs.invalidate_cache()
        names = s3fs.ls(bucket, detail=False) if s3fs.exists(bucket) else []
        return {name.rsplit("/", 1)[-1]: json.loads(s3fs.cat_file(name)) for name in sorted(names)}

    return {"local": lambda: local(tmp_path / "local" / job / ".runs"),
            "sftp": lambda: local(sshd.home / "backups" / job / ".runs"),
            "s3": from_s3}  # fmt: skip


def test_start_verify_and_drill_leave_a_record_on_each_storage(
    tmp_path: Path, sites: Path, sshd_server: SSHServer, s3_server: S3Server
) -> None:
    job = f"rec-{tmp_path.name[-10:]}"
    storages = _three(tmp_path, job, sshd_server, s3_server)
    main = write_main(tmp_path, [{"job": job, "type": "desc_files", "sources": [{"target": [f"{sites}/*/"]}],
                                  "storages": storages}], server_name=SERVER)  # fmt: skip
    done = corral("start", "-v", "-c", str(main), env=NOW)
    assert done.returncode == 0, done.stderr
    verified = corral("verify", job, "--all", "-c", str(main), env={"CORRAL_NOW": f"{DAY}T04:00:00"})
    assert verified.returncode == 0, verified.stdout + verified.stderr
    drilled = corral("drill", job, "-c", str(main), env={"CORRAL_NOW": f"{DAY}T05:00:00"})
    assert drilled.returncode == 0, drilled.stdout + drilled.stderr
    for label, read in _readers(tmp_path, job, sshd_server, s3_server).items():
        records = read()
        assert sorted(records) == [f"{STAMP}.{SERVER}.start.json", f"{DAY}_04-00-00.{SERVER}.verify.json",
                                   f"{DAY}_05-00-00.{SERVER}.drill.json"], (label, sorted(records))  # fmt: skip
        start = records[f"{STAMP}.{SERVER}.start.json"]
        assert {key: start[key] for key in ("format", "kind", "server", "job", "type", "stamp", "outcome")} == {
            "format": 1, "kind": "start", "server": SERVER, "job": job, "type": "desc_files", "stamp": STAMP,
            "outcome": "ok"}, label  # fmt: skip
        assert start["started"].endswith("Z") and start["finished"] >= start["started"], label
        assert start["corral"] and start["plugins"] and all(isinstance(v, str) for v in start["plugins"].values())
        assert [t["target"] for t in start["targets"]] == ["alpha", "beta"], label
        for target in start["targets"]:
            assert target["outcome"] == "ok" and target["errors"] == [] and target["failed"] == {}, (label, target)
            assert target["archives"] == 1 and target["size"] > 10_000, (label, target)
            assert target["stored"] == ["local", "s3", "sftp"], (label, target)
        assert [(s["label"], s["outcome"], s["stored"]) for s in start["storages"]] == [
            ("local", "ok", 2), ("sftp", "ok", 2), ("s3", "ok", 2)], label
        assert start["size"] == sum(t["size"] for t in start["targets"])
        assert start["errors"] == [] and start["warnings"] == [], label
        verify = records[f"{DAY}_04-00-00.{SERVER}.verify.json"]
        assert verify["outcome"] == "ok" and verify["kind"] == "verify", (label, verify)
        assert {(t["target"], t["checked"], t["ok"]) for t in verify["targets"]} == {("alpha", 3, 3), ("beta", 3, 3)}
        assert [(s["label"], s["statuses"]) for s in verify["storages"]] == [
            ("local", {"ok": 2}), ("sftp", {"ok": 2}), ("s3", {"ok": 2})], label
        drill = records[f"{DAY}_05-00-00.{SERVER}.drill.json"]
        for record in records.values():
            _documented(record)
        assert drill["outcome"] == "ok", (label, drill)
        assert [(t["target"], t["outcome"], t["storage"]) for t in drill["targets"]] == [
            ("alpha", "ok", "local"), ("beta", "ok", "local")], label
    sizes = [p.stat().st_size for p in (tmp_path / "local" / job / ".runs").iterdir()]
    assert max(sizes) < 4096, sizes
    # the records are not archives: verify sees none of them as one
    assert "verify: 6 archive(s) ok, 0 bad, 0 unverifiable, on 3 storage(s)" in verified.stdout


def test_a_failing_jobs_record_holds_its_error_masked(
    tmp_path: Path, sshd_server: SSHServer, s3_server: S3Server
) -> None:
    job = f"fail-{tmp_path.name[-10:]}"
    secret = s3_server.secret_key
    assert len(secret) >= 8
    dump = script(tmp_path / "dump.sh", f"echo 'mysqldump: access denied for app:{secret}@db' >&2\nexit 1\n")
    main = write_main(tmp_path, [{"job": job, "type": "external", "dump_cmd": dump,
                                  "storages": _three(tmp_path, job, sshd_server, s3_server)}],
                      server_name=SERVER)  # fmt: skip
    done = corral("start", "-c", str(main), env=NOW, timeout=120)
    assert done.returncode == 1, done.stderr
    for label, read in _readers(tmp_path, job, sshd_server, s3_server).items():
        records = read()
        assert list(records) == [f"{STAMP}.{SERVER}.start.json"], (label, records)
        record = records[f"{STAMP}.{SERVER}.start.json"]
        text = json.dumps(record)
        assert secret not in text, (label, text)
        assert record["outcome"] == "failed", label
        _documented(record)
        assert any(f"access denied for app:{MASK}@db" in line for line in record["errors"]), (label, record["errors"])
    raw = (tmp_path / "local" / job / ".runs" / f"{STAMP}.{SERVER}.start.json").read_text()
    assert secret not in raw and MASK in raw


def test_retention_removes_records_with_their_run_never_the_last(
    tmp_path: Path, sites: Path, sshd_server: SSHServer, s3_server: S3Server
) -> None:
    job = f"keep-{tmp_path.name[-10:]}"
    storages = [{**storage, "store": {"days": 1}} for storage in _three(tmp_path, job, sshd_server, s3_server)]
    main = write_main(tmp_path, [{"job": job, "type": "desc_files", "sources": [{"target": [f"{sites}/*/"]}],
                                  "storages": storages}], server_name=SERVER)  # fmt: skip
    foreign = "2026-01-01_03-00-00.web-2.start.json"  # another server sharing the folder: never ours to delete
    runs = tmp_path / "local" / job / ".runs"
    runs.mkdir(parents=True)
    (runs / foreign).write_text('{"format": 1}\n')
    (runs / "notes.txt").write_text("mine\n")  # not a record's name: left alone
    s3fs = fsspec.filesystem("s3", skip_instance_cache=True, **s3_server.storage_options())
    s3fs.pipe_file(f"{s3_server.bucket}/records-{tmp_path.name[-12:]}/{job}/.runs/{foreign}", b'{"format": 1}\n')
    for day, verify in (("2026-01-01", True), ("2026-01-02", True), ("2026-01-03", False)):
        env = {"CORRAL_NOW": f"{day}T03:00:00"}
        assert (done := corral("start", "-c", str(main), env=env)).returncode == 0, done.stderr
        if verify:
            env = {"CORRAL_NOW": f"{day}T04:00:00"}
            assert (done := corral("verify", job, "-c", str(main), env=env)).returncode == 0, done.stdout
    archives = sorted(p.name for p in (tmp_path / "local" / job / "alpha").iterdir())
    assert archives == ["alpha_2026-01-02_03-00-00.tar", "alpha_2026-01-03_03-00-00.tar"], archives
    ours = [f"2026-01-02_03-00-00.{SERVER}.start.json",
            f"2026-01-02_04-00-00.{SERVER}.verify.json",  # the last verify record stays, however old
            f"2026-01-03_03-00-00.{SERVER}.start.json"]  # fmt: skip
    readers = _readers(tmp_path, job, sshd_server, s3_server)
    assert sorted(p.name for p in runs.iterdir()) == sorted([foreign, *ours, "notes.txt"])
    assert sorted(readers["sftp"]()) == ours
    assert sorted(readers["s3"]()) == sorted([foreign, *ours])


def test_a_storage_refusing_the_record_leaves_the_run_ok(
    tmp_path: Path, sites: Path, sshd_server: SSHServer, s3_server: S3Server
) -> None:
    job = f"refuse-{tmp_path.name[-10:]}"
    storages = _three(tmp_path, job, sshd_server, s3_server)
    (tmp_path / "local" / job).mkdir(parents=True)
    (tmp_path / "local" / job / ".runs").write_text("a file where the records' folder goes\n")
    main = write_main(tmp_path, [{"job": job, "type": "desc_files", "sources": [{"target": [f"{sites}/*/"]}],
                                  "storages": storages}], server_name=SERVER)  # fmt: skip
    done = corral("start", "-c", str(main), env=NOW)
    assert done.returncode == 0, done.stderr
    logged = (tmp_path / "log" / "corral.log").read_text()
    assert "storage local: the run record could not be written (the run's outcome is unchanged)" in logged, logged
    assert sorted(p.name for p in (tmp_path / "local" / job / "alpha").iterdir()) == [f"alpha_{STAMP}.tar"]
    readers = _readers(tmp_path, job, sshd_server, s3_server)
    for label in ("sftp", "s3"):
        [record] = readers[label]().values()
        assert record["outcome"] == "ok", label
        assert record["storages"][0]["outcome"] == "ok", label  # the record's own failure is not the storage's
    drilled = corral("verify", job, "-c", str(main), env={"CORRAL_NOW": f"{DAY}T04:00:00"})
    assert drilled.returncode == 0, drilled.stdout + drilled.stderr
    assert "storage local: the run record could not be written" in drilled.stderr


def test_a_storage_that_failed_every_upload_is_named_per_target(tmp_path: Path, sites: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the second storage's folder goes\n")
    main = write_main(tmp_path, [{"job": "sites", "type": "desc_files", "sources": [{"target": [f"{sites}/*/"]}],
                                  "storages": [local_storage(tmp_path / "b"), local_storage(blocker / "backups")]}],
                      server_name=SERVER)  # fmt: skip
    done = corral("start", "-c", str(main), env=NOW)
    assert done.returncode == 1, done.stderr
    [name] = [p.name for p in (tmp_path / "b" / "sites" / ".runs").iterdir()]
    record = json.loads((tmp_path / "b" / "sites" / ".runs" / name).read_text())
    assert record["outcome"] == "failed"
    for target in record["targets"]:
        assert target["outcome"] == "failed" and target["stored"] == ["local"], target
        assert list(target["failed"]) == ["local#2"] and "Not a directory" in target["failed"]["local#2"], target
        assert len(target["errors"]) == 1 and "storage local#2: target " in target["errors"][0], target
    assert [(s["label"], s["outcome"], s["stored"]) for s in record["storages"]] == [
        ("local", "ok", 2), ("local#2", "failed", 0)]
    assert len(record["errors"]) == 2
    assert not [w for w in record["warnings"] if "run record" in w]  # a record cannot tell of its own failure
    logged = (tmp_path / "log" / "corral.log").read_text()
    assert "storage local#2: the run record could not be written (the run's outcome is unchanged)" in logged
    _documented(record)


def test_a_failed_drill_and_verify_are_recorded_as_failed(tmp_path: Path, sites: Path) -> None:
    main = write_main(tmp_path, [{"job": "sites", "type": "desc_files", "sources": [{"target": [f"{sites}/*/"]}],
                                  "storages": [local_storage(tmp_path / "b")]}], server_name=SERVER)  # fmt: skip
    assert (done := corral("start", "-c", str(main), env=NOW)).returncode == 0, done.stderr
    archive = tmp_path / "b" / "sites" / "alpha" / f"alpha_{STAMP}.tar"
    data = bytearray(archive.read_bytes())
    data[600] ^= 0xFF  # a flipped byte inside a member: tar extracts it without a word, the checksum does not
    archive.write_bytes(bytes(data))
    verified = corral("verify", "sites", "-c", str(main), env={"CORRAL_NOW": f"{DAY}T04:00:00"})
    drilled = corral("drill", "sites", "-c", str(main), env={"CORRAL_NOW": f"{DAY}T05:00:00"})
    assert verified.returncode == 1 and drilled.returncode == 1, verified.stdout + drilled.stdout
    runs = tmp_path / "b" / "sites" / ".runs"
    verify = json.loads((runs / f"{DAY}_04-00-00.{SERVER}.verify.json").read_text())
    drill = json.loads((runs / f"{DAY}_05-00-00.{SERVER}.drill.json").read_text())
    assert verify["outcome"] == "failed" and drill["outcome"] == "failed"
    assert {t["target"]: t["outcome"] for t in verify["targets"]} == {"alpha": "failed", "beta": "ok"}
    assert verify["storages"][0]["statuses"] == {"mismatch": 1, "ok": 1}
    assert any("mismatch" in line and "alpha" in line for line in verify["errors"]), verify["errors"]
    assert {t["target"]: t["outcome"] for t in drill["targets"]} == {"alpha": "failed", "beta": "ok"}
    assert drill["errors"] and all(line.startswith("target alpha: ") for line in drill["errors"]), drill["errors"]
    for record in (verify, drill):
        _documented(record)


def test_a_records_folder_that_is_a_link_is_never_written_through(tmp_path: Path, sites: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "b" / "sites").mkdir(parents=True)
    (tmp_path / "b" / "sites" / ".runs").symlink_to(outside)  # planted by someone who can write the backup folder
    main = write_main(tmp_path, [{"job": "sites", "type": "desc_files", "sources": [{"target": [f"{sites}/*/"]}],
                                  "storages": [local_storage(tmp_path / "b", store={"days": 1})]}],
                      server_name=SERVER)  # fmt: skip
    (outside / f"2026-01-01_03-00-00.{SERVER}.start.json").write_text("{}\n")  # what rotation would delete
    done = corral("start", "-c", str(main), env=NOW)
    assert done.returncode == 0, done.stderr
    assert os.listdir(outside) == [f"2026-01-01_03-00-00.{SERVER}.start.json"]
    logged = (tmp_path / "log" / "corral.log").read_text()
    assert "storage local: the run record could not be written (the run's outcome is unchanged)" in logged, logged
