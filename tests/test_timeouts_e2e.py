"""Per-stage timeouts: a hung dump or upload fails that step in bounded time; the rest of the run goes on."""

from __future__ import annotations

import time
from pathlib import Path

from corral.testing.cli import corral, local_storage, plugin_site, write_main
from tests.conftest import report_json, script

HANGING_STORAGE = '''
import time
from fsspec.implementations.local import LocalFileSystem
from corral import StorageOptions, hookimpl

class HangOptions(StorageOptions):
    pass

@hookimpl
def corral_storage_schema():
    return HangOptions

@hookimpl
def corral_storage_filesystem(config):
    return LocalFileSystem()

@hookimpl
def corral_storage_put(fs, local_path, remote_path):
    time.sleep(60)  # a frozen upload: the server stopped answering
    return True
'''


def test_dump_timeout_stops_a_hung_dump(tmp_path: Path) -> None:
    hung = script(tmp_path / "hung.sh", "sleep 60\n")
    quick = script(tmp_path / "ok.sh", 'echo x > "$CORRAL_TMP_DIR/x"\n' + report_json("$CORRAL_TMP_DIR/x", "x"))
    jobs = [{"job": "hung", "type": "external", "dump_cmd": hung, "storages": [local_storage(tmp_path / "b")]},
            {"job": "quick", "type": "external", "dump_cmd": quick, "storages": [local_storage(tmp_path / "b")]}]
    started = time.monotonic()
    done = corral("start", "-c", str(write_main(tmp_path, jobs, dump_timeout=2)))
    assert time.monotonic() - started < 30
    assert done.returncode == 1
    assert "[ERROR] [hung] dump: dump timed out after 2 s (dump_timeout) and was stopped" in done.stderr
    assert len(list((tmp_path / "b" / "quick").rglob("x_*"))) == 1


def hanging_storage_plugin(tmp_path: Path) -> Path:
    """A site folder (for PYTHONPATH) registering the storage `hang`, whose uploads never finish."""
    return plugin_site(tmp_path, "storages", "hang", HANGING_STORAGE)


def test_upload_timeout_fails_the_frozen_storage_only(tmp_path: Path) -> None:
    site = hanging_storage_plugin(tmp_path)
    quick = script(tmp_path / "ok.sh", 'echo x > "$CORRAL_TMP_DIR/x"\n' + report_json("$CORRAL_TMP_DIR/x", "x"))
    storages = [{"storage": "hang", "backup_dir": str(tmp_path / "h")}, local_storage(tmp_path / "b")]
    jobs = [{"job": "up", "type": "external", "dump_cmd": quick, "storages": storages}]
    started = time.monotonic()
    done = corral("start", "-c", str(write_main(tmp_path, jobs, upload_timeout=2)), env={"PYTHONPATH": str(site)})
    assert time.monotonic() - started < 30
    assert done.returncode == 1
    assert "[ERROR] [up] storage hang: target x: upload timed out after 2 s (upload_timeout)" in done.stderr
    assert len(list((tmp_path / "b" / "up").rglob("x_*"))) == 1


def test_a_storage_that_timed_out_gets_no_more_uploads_in_that_job(tmp_path: Path) -> None:
    """The abandoned upload may still hold the connection: later archives skip that storage at once."""
    site = hanging_storage_plugin(tmp_path)
    for name in ("alpha", "beta"):
        (tmp_path / "www" / name).mkdir(parents=True)
        (tmp_path / "www" / name / "index.html").write_text(name)
    storages = [{"storage": "hang", "backup_dir": str(tmp_path / "h")}, local_storage(tmp_path / "b")]
    jobs = [{"job": "up", "type": "desc_files", "sources": [{"target": [f"{tmp_path}/www/*/"]}],
             "storages": storages}]  # fmt: skip
    done = corral("start", "-c", str(write_main(tmp_path, jobs, upload_timeout=2)), env={"PYTHONPATH": str(site)})
    assert done.returncode == 1
    assert "[ERROR] [up] storage hang: target alpha: upload timed out after 2 s (upload_timeout)" in done.stderr
    assert ("[ERROR] [up] storage hang: target beta: not uploaded: the storage is out for this job (an upload "
            "timed out (upload_timeout) and may still hold the connection)") in done.stderr
    assert sorted(p.parent.name for p in (tmp_path / "b" / "up").rglob("*_*.tar*")) == ["alpha", "beta"]
