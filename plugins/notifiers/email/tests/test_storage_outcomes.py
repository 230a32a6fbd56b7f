"""Telling apart two storages of the same type in one job, whose errors the core keys by type alone."""

from __future__ import annotations

from pathlib import Path

from corral.config.models import JobConfig, StorageConfig, StorageOptions, Store
from corral.run import ArchiveOutcome, JobResult
from corral_notifier_email.outcomes import RunRecorder


def job_with_two_local_storages() -> JobConfig:
    storages = [StorageConfig("local", True, backup_dir, Store(), StorageOptions()) for backup_dir in ("/a", "/b")]
    return JobConfig("db", "external", Path("/tmp/db"), None, [], storages)


def test_errors_go_to_the_storage_they_name_or_that_lacks_the_target() -> None:
    recorder = RunRecorder()
    job = job_with_two_local_storages()
    recorder.corral_job_started(job=job)
    recorder.corral_rotation_done(job=job, storage="local", deleted=["/a/db/x/x_old.sql"])
    recorder.corral_archive_stored(job=job, storage="local", remote_path="/a/db/x/x_new.sql", size=5, seconds=0.5)
    result = JobResult("db", "external", archives=[ArchiveOutcome("x", 5)], errors=[
        "storage local: rotation cannot delete `/b/db/x/x_old.sql`: PermissionError: denied",
        "storage local: target x: upload failed: OSError: disk full",
        "source 1: something else",
    ])
    a, b = recorder.storages(result)
    assert (a.backup_dir, a.targets, a.size, a.seconds, a.deleted, a.failures) == ("/a", ["x"], 5, 0.5, 1, [])
    assert b.backup_dir == "/b" and b.targets == [] and b.deleted == 0
    assert b.failures == ["rotation cannot delete `/b/db/x/x_old.sql`: PermissionError: denied",
                          "target x: upload failed: OSError: disk full"]


def test_an_error_that_names_neither_goes_to_both() -> None:
    recorder = RunRecorder()
    job = job_with_two_local_storages()
    recorder.corral_job_started(job=job)
    result = JobResult("db", "external", errors=["storage local: cannot connect: boom"])
    assert [s.failures for s in recorder.storages(result)] == [["cannot connect: boom"]] * 2
