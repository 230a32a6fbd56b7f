"""A storage that stops answering mid-job costs the job one storage timeout, not one per archive.

The real OpenSSH server and SeaweedFS are frozen with SIGSTOP (sockets open, nothing answers) right after the
first of 20 archives was stored. The storage is then out for the rest of the job: the later archives fail on it at
once and go to the healthy local storage; the temp file of the cut upload is named and left to the next rotation.
The run must end within 1.5 x the storage's ``timeout`` x (``retries`` + 1) plus the same run's time unfrozen,
whether the archives come as files or as streams (written to every storage as they are made).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from corral.testing.cli import CORRAL, corral, local_storage, plugin_site, write_main
from corral_testservers import S3Server, SMTPServer, SSHServer
from corral_testservers.faults import server_pids

TIMEOUT, RETRIES, TARGETS = 3, 1, 20

# A job type of this test: 20 archives; with the second it freezes the storage's server (the processes named in an
# environment variable and their children): at once, or once the upload of the second began writing its temp file.
MANY = '''
import glob, os, signal, subprocess, threading, time
from corral import Archive, JobOptions, hookimpl
from corral.archive import StreamedArchive
from corral.config.models import SourceSchema

class ManyOptions(JobOptions):
    pass

@hookimpl
def corral_source_schema():
    return SourceSchema(job=ManyOptions, group="databases", extensions=("txt",))

def family(roots):
    """The servers and every process they started (sshd forks one per connection)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    found = set(roots)
    while True:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        if not more:
            return found
        found |= more

def freeze():
    for pid in family({int(p) for p in os.environ.get("TEST_FREEZE_PIDS", "").split()}):
        try:
            os.kill(pid, signal.SIGSTOP)
        except ProcessLookupError:  # a short-lived child of sshd (a login's helper) gone meanwhile
            pass

def freeze_when_written(folder):
    """Freeze once the upload of t01 has begun writing its temp file on the server's disk."""
    while not glob.glob(f"{folder}/**/.t01_*.partial-*", recursive=True):
        time.sleep(0.005)
    freeze()

@hookimpl
def corral_source_dump(job, source, tmp_dir, run):
    for index in range(TARGETS):
        path = tmp_dir / f"t{index:02d}.txt"
        with path.open("wb") as out:  # t01 is big enough to be cut in the middle
            out.truncate(64 * 2**20 if index == 1 else 1024)
        if index == 1 and os.environ.get("TEST_FREEZE_WHEN"):
            threading.Thread(target=freeze_when_written, args=(os.environ["TEST_FREEZE_WHEN"],), daemon=True).start()
        elif index == 1:
            freeze()
        if os.environ.get("TEST_STREAM"):  # the same bytes as a stream (a pipe from `cat`), as tar's would come
            process = run.popen(["cat", str(path)], stdout=subprocess.PIPE)
            def finish(process=process):
                process.stdout.close()
                process.wait()
                run.forget(process)
                return ()
            yield StreamedArchive(reader=process.stdout, finish=finish, target=f"t{index:02d}", extension="txt")
        else:
            yield Archive(path=path, target=f"t{index:02d}", extension="txt")
'''.replace("TARGETS", str(TARGETS))


def _sftp(server: SSHServer) -> tuple[dict[str, Any], int]:
    return {"storage": "sftp", "backup_dir": str(server.home / "dead-storage"), "host": server.host,
            "port": server.port, "user": server.user, "path_to_key": str(server.key_path),
            "known_hosts": str(server.known_hosts), "timeout": TIMEOUT, "retries": RETRIES}, server.port


def _s3(server: S3Server) -> tuple[dict[str, Any], int]:
    port = int(server.endpoint_url.rsplit(":", 1)[1].strip("/"))
    return {"storage": "s3", "backup_dir": "/dead-storage", "bucket": server.bucket,
            "endpoint_url": server.endpoint_url, "region": server.region, "access_key_id": server.access_key,
            "secret_access_key": server.secret_key, "timeout": TIMEOUT, "retries": RETRIES}, port


@pytest.mark.parametrize("mode", ["file", "stream"])
@pytest.mark.parametrize("kind", ["sftp", "s3"])
def test_a_storage_frozen_mid_job_costs_one_timeout(tmp_path: Path, kind: str, mode: str,
                                                    request: pytest.FixtureRequest) -> None:
    make: Callable[[Any], tuple[dict[str, Any], int]] = {"sftp": _sftp, "s3": _s3}[kind]
    storage, port = make(request.getfixturevalue({"sftp": "sshd_server", "s3": "s3_server"}[kind]))
    site = plugin_site(tmp_path, "sources", "many", MANY)
    main = write_main(tmp_path, [{"job": f"db-{kind}", "type": "many",
                                  "storages": [storage, local_storage(tmp_path / "local")]}])
    env = {"PYTHONPATH": str(site), **({"TEST_STREAM": "1"} if mode == "stream" else {})}

    started = time.monotonic()
    healthy = corral("start", "-c", str(main), env={**env, "CORRAL_NOW": "2026-03-01T03:00:00"})
    unfrozen = time.monotonic() - started
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr

    pids = server_pids(port)  # the listening servers; the source freezes them with their children of the moment
    started = time.monotonic()
    try:
        freeze = {"TEST_FREEZE_PIDS": " ".join(map(str, pids))}
        if kind == "sftp":  # the server's disk is here: freeze it in the middle of writing t01's temp file
            freeze["TEST_FREEZE_WHEN"] = storage["backup_dir"]
        done = corral("start", "-c", str(main), timeout=300, env={**env, "CORRAL_NOW": "2026-03-02T03:00:00", **freeze})
        took = time.monotonic() - started
    finally:
        for pid in server_pids(port):
            os.kill(pid, signal.SIGCONT)
    budget = 1.5 * TIMEOUT * (RETRIES + 1)
    assert done.returncode == 1, done.stderr
    assert took < unfrozen + budget, f"{took:.1f} s with the storage frozen, {unfrozen:.1f} s without"
    log = (tmp_path / "log" / "corral.log").read_text()
    assert f"[ERROR] [db-{kind}] storage {kind} is out for the rest of this job: it did not answer an upload" in log
    skipped = [line for line in log.splitlines() if f"storage {kind}: target t" in line and "not uploaded: the storage "
               "is out for this job (it did not answer an upload)" in line]
    assert len(skipped) == TARGETS - 2, log  # t00 stored before the freeze, t01 the upload that found it frozen
    # every archive of the day reached the healthy storage
    day = sorted(p.name for p in (tmp_path / "local" / f"db-{kind}").rglob("*_2026-03-02_*.txt"))
    assert len(day) == TARGETS
    # the failed upload says its temp file may stay (the next run's rotation deletes it); never a traceback
    [failed] = [line for line in log.splitlines() if f"storage {kind}: target t01: upload failed" in line]
    if kind == "sftp":  # S3 writes no temp file: an upload that did not complete leaves no object
        [left] = Path(storage["backup_dir"]).rglob(".t01_*.partial-*")
        assert f"its temp file `{left}` may stay on the storage until the next run's rotation removes it" in failed
        again = corral("start", "-c", str(main), env={**env, "CORRAL_NOW": "2026-03-03T03:00:00"})
        assert again.returncode == 0, again.stdout + again.stderr
        assert not left.exists()
    assert "Traceback" not in done.stderr


def _stopped_while_frozen(main: Path, env: dict[str, str], folder: Path, port: int
                          ) -> tuple[str, str]:  # fmt: skip
    """`corral start` stopped by SIGTERM once the upload of t01 began on the SFTP server (the job's plugin froze
    it): its stdout and stderr (exit 143, asserted); the server is thawed whatever happens."""
    run = subprocess.Popen([*CORRAL, "start", "-c", str(main)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not list(folder.rglob(".t01_*.partial-*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2)  # frozen by now: t01 stuck on its SFTP leg
        run.send_signal(signal.SIGTERM)
        stdout, stderr = run.communicate(timeout=60)
    finally:
        for pid in server_pids(port):
            os.kill(pid, signal.SIGCONT)
        if run.poll() is None:
            run.kill()
    assert run.returncode == 143, stderr
    return stdout, stderr


def test_sigterm_during_a_stuck_upload_reports_what_was_stored(tmp_path: Path, sshd_server: SSHServer,
                                                               smtp_server: SMTPServer) -> None:
    """The run is stopped while the SFTP server hangs in the middle of t01: the report says interrupted, at ERROR,
    with what was stored before (t00 on both storages, t01 on the local one) and the temp file the cut upload may
    leave; the e-mail counts those archives (it said "0 archive(s), 0 B")."""
    storage, port = _sftp(sshd_server)
    storage |= {"timeout": 60, "backup_dir": str(sshd_server.home / "interrupted")}
    site = plugin_site(tmp_path, "sources", "many", MANY)
    mail = {"admin_mail": ["admin@example.com"], "mail_from": "corral@example.com", "smtp_server": smtp_server.host,
            "smtp_port": smtp_server.port}
    main = write_main(tmp_path, [{"job": "db", "type": "many", "storages": [storage, local_storage(tmp_path / "l")]}],
                      **mail)
    before = len(smtp_server.messages())
    env = {**os.environ, "PYTHONPATH": str(site), "TEST_FREEZE_PIDS": " ".join(map(str, server_pids(port))),
           "TEST_FREEZE_WHEN": storage["backup_dir"], "CORRAL_NOW": "2026-03-02T03:00:00"}
    folder = Path(storage["backup_dir"])
    stdout, stderr = _stopped_while_frozen(main, env, folder, port)
    [left] = folder.rglob(".t01_*.partial-*")
    log = (tmp_path / "log" / "corral.log").read_text()
    for text in (log, stderr):
        assert "[ERROR] run interrupted by signal 15 after " in text
        # t00 on both storages, t01 on the local one
        assert ("s (no job done; cut short or failed: db); 2 archive(s) were stored before it (3 cop(ies) in "
                "all)") in text
        assert (f"[ERROR] [db] storage sftp: the upload of `{left.parent}/t01_2026-03-02_03-00-00.txt` did not "
                f"finish; its temp file `{left.parent}/.t01_2026-03-02_03-00-00.txt.partial-*` may stay") in text
    reported = [line for line in log.splitlines() if "[DEBUG]" not in line]  # what the admin reads as the cause
    assert not [line for line in reported if "partial files removed" in line or "Bad file descriptor" in line
                or "retrying" in line], log
    assert stdout.splitlines()[0] == "INTERRUPTED by signal 15: no job done; cut short or failed: db"
    [message] = smtp_server.wait_for_messages(before + 1)[before:]
    body = message.get_content()
    assert "2 archive(s), 64.0 MiB" in body, body
    assert "t00: 1.0 KiB" in body and "t01: 64.0 MiB" in body


def test_sigterm_during_a_stuck_stream_counts_only_what_was_stored(tmp_path: Path, sshd_server: SSHServer) -> None:
    """A stream cut by SIGTERM (its SFTP leg frozen, so nothing of t01 was committed anywhere) is no archive in the
    summary: the row says 1 (t00), as the log does (it said 2)."""
    storage, port = _sftp(sshd_server)
    storage |= {"timeout": 60, "backup_dir": str(sshd_server.home / "interrupted-stream")}
    site = plugin_site(tmp_path, "sources", "many", MANY)
    main = write_main(tmp_path, [{"job": "db", "type": "many", "storages": [storage, local_storage(tmp_path / "l")]}])
    env = {**os.environ, "PYTHONPATH": str(site), "TEST_FREEZE_PIDS": " ".join(map(str, server_pids(port))),
           "TEST_FREEZE_WHEN": storage["backup_dir"], "TEST_STREAM": "1", "CORRAL_NOW": "2026-03-02T03:00:00"}
    stdout, stderr = _stopped_while_frozen(main, env, Path(storage["backup_dir"]), port)
    assert "1 archive(s) were stored before it (2 cop(ies) in all)" in stderr, stderr
    [row] = [line.split("\t") for line in stdout.splitlines() if line.startswith("db\t")]
    assert row[:3] == ["db", "FAILED", "1"], stdout
    assert not list((tmp_path / "l").rglob("t01_*")), "a cut stream has no final name"
