"""The scp/sftp storages against a real OpenSSH sshd: the storage contract, host keys, auth and dead servers."""

from __future__ import annotations

import os
import posixpath
import secrets
import subprocess
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from corral.remote import is_transient
from corral.testing.storage_contract import (
    StorageContract,
    existing_folder,
    open_storage,
    orphaned_temp_file_is_listed_and_deleted,
    raised,
    sparse_file,
    storage_config,
    stored_modes,
    synced_before_rename,
    unanswered_within,
    upload_through_a_cut,
    upload_through_a_fault,
    wrong_password_refused,
)
from corral.testing.storage_contract import fresh_storage as fresh
from corral_testservers import SSHServer, start_sshd
from corral_testservers.faults import blackhole, frozen, kill_connections, server_pids

NAME = "db/db_2026-01-01_00-00-00.sql.gz"
BIG = "big/big_2026-01-01_00-00-00.tar"


def entry(server: SSHServer, storage: str = "sftp", **extra: Any) -> dict[str, Any]:
    keys = {
        "storage": storage, "backup_dir": str(server.home / "backups"), "host": server.host, "port": server.port,
        "user": server.user, "path_to_key": str(server.key_path), "known_hosts": str(server.known_hosts),
    }  # fmt: skip
    keys.update(extra)
    return {k: v for k, v in keys.items() if v is not None}


class TestSFTPStorage(StorageContract):
    streams = True  # pipelined writes as the bytes come (openssh.StreamWriter)

    @pytest.fixture
    def storage_entry(self, sshd_server: SSHServer) -> dict[str, Any]:
        return entry(sshd_server)


class TestSCPStorageWithPassword(StorageContract):
    """The article's `scp` name, logging in with a password instead of a key."""

    streams = True

    @pytest.fixture
    def storage_entry(self, sshd_server: SSHServer) -> dict[str, Any]:
        return entry(sshd_server, "scp", path_to_key=None, password=sshd_server.password)


def test_stored_file_is_byte_identical_on_the_server_and_readable_by_openssh(sshd_server: SSHServer,
                                                                               tmp_path: Path) -> None:
    storage = fresh(entry(sshd_server))
    local = tmp_path / "a.bin"
    local.write_bytes(os.urandom(3_000_000))
    storage.put(local, posixpath.join(storage.root, NAME))
    fetched = tmp_path / "fetched.bin"
    subprocess.run(
        ["scp", "-q", "-P", str(sshd_server.port), "-i", str(sshd_server.key_path), "-o", "BatchMode=yes",
         "-o", f"UserKnownHostsFile={sshd_server.known_hosts}", "-o", "StrictHostKeyChecking=yes",
         f"{sshd_server.user}@{sshd_server.host}:{storage.root}/{NAME}", str(fetched)],
        check=True, timeout=60,
    )  # fmt: skip
    assert fetched.read_bytes() == local.read_bytes()


def test_archive_ending_in_a_hole_arrives_whole(sshd_server: SSHServer, tmp_path: Path) -> None:
    """An archive whose end is a hole (a sparse file) arrives with every byte."""
    local = tmp_path / "sparse.tar"
    with open(local, "wb") as out:
        out.write(os.urandom(100_000))
        out.truncate(5_000_000)
    storage = fresh(entry(sshd_server))
    storage.put(local, posixpath.join(storage.root, NAME))
    assert Path(storage.root, NAME).read_bytes() == local.read_bytes()


def test_wrong_password_is_one_clear_line_without_the_password(sshd_server: SSHServer) -> None:
    message = wrong_password_refused(entry(sshd_server, path_to_key=None))
    assert message == (
        f"sftp://{sshd_server.user}@{sshd_server.host}:{sshd_server.port}: cannot connect: authentication failed "
        f"for user `{sshd_server.user}` (check `password` / `path_to_key`)"
    )
    assert "\n" not in message


def test_a_changed_host_key_says_how_to_re_verify_it_never_to_turn_the_check_off(sshd_server: SSHServer,
                                                                                    tmp_path: Path) -> None:
    """known_hosts recorded another key for [host]:port: what a reinstalled server, or a man in the middle, shows."""
    other = tmp_path / "old_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True, timeout=30)
    known_hosts = tmp_path / "known_hosts"
    key_type, key = other.with_suffix(".pub").read_text().split()[:2]
    known_hosts.write_text(f"[{sshd_server.host}]:{sshd_server.port} {key_type} {key}\n")
    listed = subprocess.run(["ssh-keygen", "-lf", str(sshd_server.known_hosts)], capture_output=True, text=True,
                            check=True, timeout=30)  # fmt: skip
    fingerprint = listed.stdout.split()[1]  # the key the server really sends
    host, port = sshd_server.host, sshd_server.port
    with pytest.raises(PermissionError) as caught:
        open_storage(entry(sshd_server, known_hosts=str(known_hosts)))
    assert str(caught.value) == (
        f"sftp://{sshd_server.user}@{host}:{port}: cannot connect: host key of {host}:{port} has CHANGED since "
        f"`{known_hosts}` recorded it (it now sends ED25519 key {fingerprint}): someone may be intercepting the "
        "connection, unless the server's key was replaced; once its administrator confirms the new fingerprint, "
        f"run `ssh-keygen -f {known_hosts} -R '[{host}]:{port}'` and add the new key with "
        f"`ssh-keyscan -p {port} {host} >> {known_hosts}`"
    )
    assert "host_key_check" not in str(caught.value)
    # the suggested commands do what they say: the old entry goes, the scanned key is the one the server sends
    subprocess.run(["ssh-keygen", "-f", str(known_hosts), "-R", f"[{host}]:{port}"], check=True, capture_output=True,
                   timeout=30)  # fmt: skip
    scanned = subprocess.run(["ssh-keyscan", "-p", str(port), host], capture_output=True, text=True, check=True,
                             timeout=30)  # fmt: skip
    with known_hosts.open("a") as out:
        out.write(scanned.stdout)
    assert fresh(entry(sshd_server, known_hosts=str(known_hosts))).list() == []


def test_a_host_key_missing_from_known_hosts_says_how_to_add_it(sshd_server: SSHServer, tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    host, port = sshd_server.host, sshd_server.port
    with pytest.raises(PermissionError) as caught:
        open_storage(entry(sshd_server, known_hosts=str(empty)))
    assert str(caught.value) == (
        f"sftp://{sshd_server.user}@{host}:{port}: cannot connect: host key of {host}:{port} is not in `{empty}`: "
        f"add it with `ssh-keyscan -p {port} {host} >> {empty}` after checking its fingerprint with the server's "
        "administrator"
    )


def test_host_key_check_no_trusts_any_server(sshd_server: SSHServer, tmp_path: Path) -> None:
    storage = fresh(entry(sshd_server, known_hosts=None, host_key_check=False))
    assert storage.list() == []


def test_known_hosts_is_required_unless_host_key_check_is_off(sshd_server: SSHServer) -> None:
    with pytest.raises(ValidationError, match=r"`known_hosts` is required .* or set `host_key_check: no`"):
        storage_config(entry(sshd_server, known_hosts=None))


def test_unknown_cipher_is_a_config_error(sshd_server: SSHServer) -> None:
    with pytest.raises(ValidationError, match=r"unknown cipher `rot13`; choose one of .*aes128-gcm@openssh\.com"):
        storage_config(entry(sshd_server, cipher="rot13"))


def test_other_cipher_works(sshd_server: SSHServer, tmp_path: Path) -> None:
    storage = fresh(entry(sshd_server, cipher="chacha20-poly1305@openssh.com"))
    local = tmp_path / "a"
    local.write_bytes(b"abc")
    storage.put(local, posixpath.join(storage.root, NAME))
    assert [f.size for f in storage.list()] == [3]


def test_server_that_never_answers_fails_within_the_timeout() -> None:
    with blackhole() as port:
        unanswered_within({"storage": "sftp", "backup_dir": "/b", "host": "127.0.0.1", "port": port, "user": "u",
                           "host_key_check": False}, 2 * 1 + 1 + 2)  # 2 attempts of 1 s, 1 s backoff, slack


def test_server_freezing_mid_upload_fails_the_upload_in_bounded_time(server_tmp_path: Path, tmp_path: Path) -> None:
    """A hung server (SIGSTOP: sockets open, nothing answers) must not hang the run."""
    with start_sshd(server_tmp_path) as server:
        storage = fresh(entry(server, timeout=2, retries=0))
        big = sparse_file(tmp_path / "big.tar", 256 * 2**20)
        remote = posixpath.join(storage.root, BIG)
        error, hung_for = upload_through_a_fault(storage, big, remote, frozen(server.port), server.home / "backups")
        assert error is not None, "the upload should have failed"
        assert isinstance(error, ConnectionError | TimeoutError), error
        # keepalive drops the connection after ~timeout; the cleanup's reconnect times out after ~timeout
        assert hung_for < 12, f"the upload hung for {hung_for:.1f} s"
        assert not (server.home / "backups" / "contract" / "big").joinpath(posixpath.basename(remote)).exists()


def test_lost_connection_mid_upload_is_retried_on_a_new_one(server_tmp_path: Path, tmp_path: Path) -> None:
    with start_sshd(server_tmp_path) as server:
        storage = fresh(entry(server, timeout=5, retries=2))
        big = sparse_file(tmp_path / "big.tar", 256 * 2**20)
        upload_through_a_cut(storage, big, posixpath.join(storage.root, BIG), partial(kill_connections, server.port),
                             Path, server.home / "backups")  # fmt: skip


def test_orphaned_temp_files_are_listed_so_rotation_can_delete_them(sshd_server: SSHServer) -> None:
    orphaned_temp_file_is_listed_and_deleted(fresh(entry(sshd_server)))


def _ssh_child_command_line(storage: Any) -> bytes:
    session = storage.fs.inner.session
    return Path(f"/proc/{session.process.pid}/cmdline").read_bytes()


def test_key_with_passphrase_logs_in_without_the_secret_on_a_command_line(sshd_server: SSHServer,
                                                                           tmp_path: Path) -> None:
    key = tmp_path / "id_locked"
    passphrase = "locked-" + secrets.token_hex(8)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(key)], check=True, timeout=30)
    with (sshd_server.home / ".ssh" / "authorized_keys").open("a") as authorized:
        authorized.write(key.with_suffix(".pub").read_text())
    storage = fresh(entry(sshd_server, path_to_key=str(key), key_passphrase=passphrase))
    local = tmp_path / "a.tar"
    local.write_bytes(b"locked key")
    storage.put(local, posixpath.join(storage.root, NAME))
    assert [f.size for f in storage.list()] == [len(b"locked key")]
    command_line = _ssh_child_command_line(storage)
    assert b"ssh" in command_line and passphrase.encode() not in command_line
    assert list(Path(tempfile.gettempdir()).glob("corral-askpass-*")) == [], "the askpass helper outlived the login"
    with pytest.raises(PermissionError, match="authentication failed"):
        open_storage(entry(sshd_server, path_to_key=str(key), key_passphrase="wrong-" + passphrase))


def test_password_never_reaches_the_ssh_command_line(sshd_server: SSHServer) -> None:
    storage = fresh(entry(sshd_server, path_to_key=None, password=sshd_server.password))
    assert storage.list() == []
    assert sshd_server.password.encode() not in _ssh_child_command_line(storage)


def test_missing_ssh_program_is_one_clear_line(sshd_server: SSHServer, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a folder without `ssh`
    started = time.monotonic()
    with pytest.raises(FileNotFoundError) as caught:
        open_storage(entry(sshd_server))
    assert str(caught.value).endswith("cannot connect: the `ssh` program is not installed (apt install openssh-client)")
    assert time.monotonic() - started < 5, "a missing program must not be retried"


def test_closing_the_storage_ends_its_ssh_child(sshd_server: SSHServer) -> None:
    storage = fresh(entry(sshd_server))
    assert storage.list() == []
    ssh = storage.fs.inner.session.process
    assert ssh.poll() is None
    storage.close()
    assert ssh.wait(timeout=10) is not None


@pytest.mark.parametrize(("prompt", "answer"), [
    ("backup@db1.example's password: ", "pw"),
    ("(backup@db1.example) Password: ", "pw"),
    ("Enter passphrase for key '/etc/corral/id_ed25519': ", "phrase"),
    ("jump@bastion.example's password: ", None),  # a jump host's prompt: never the storage's password
    ("Are you sure you want to continue connecting (yes/no/[fingerprint])? ", None),
    ("Enter passphrase for key '/root/.ssh/other': ", None),
])  # fmt: skip
def test_askpass_helper_answers_only_corral_s_own_prompts(prompt: str, answer: str | None) -> None:
    from corral_storage_ssh.openssh import ASKPASS

    env = {"CORRAL_SSH_LOGIN": "backup@db1.example", "CORRAL_SSH_PASSWORD": "pw",
           "CORRAL_SSH_KEY": "/etc/corral/id_ed25519", "CORRAL_SSH_PASSPHRASE": "phrase", "PATH": os.environ["PATH"]}
    done = subprocess.run([str(ASKPASS), prompt], env=env, capture_output=True, text=True, timeout=10)
    assert os.access(ASKPASS, os.X_OK), "the installed helper lost its executable bit"
    if answer is None:
        assert done.returncode != 0 and done.stdout == ""
    else:
        assert done.returncode == 0 and done.stdout == answer + "\n"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [({}, ("0600", "0700")), ({"file_mode": "0640", "dir_mode": "0o750"}, ("0640", "0750"))],
    ids=["default", "asked"],
)
def test_the_server_keeps_the_storage_modes_and_existing_folders_keep_theirs(
    sshd_server: SSHServer, tmp_path: Path, keys: dict[str, Any], expected: tuple[str, str]
) -> None:
    kept = existing_folder(sshd_server.home / f"kept-{secrets.token_hex(4)}", owner=sshd_server.user)
    modes = stored_modes(entry(sshd_server, backup_dir=str(kept), **keys), Path, tmp_path)
    file_mode, dir_mode = expected
    assert modes == {"archive": file_mode, "target folder": dir_mode, "job folder": dir_mode, "backup_dir": "0751"}


def test_the_upload_is_fsynced_on_the_server_before_the_rename(sshd_server: SSHServer, tmp_path: Path) -> None:
    """`strace` on the real sshd: its sftp server fsyncs the temp file (fsync@openssh.com), then renames it."""
    storage = fresh(entry(sshd_server))
    assert "fsync@openssh.com" in storage.fs.inner.ftp.extensions
    synced_before_rename(storage, server_pids(sshd_server.port), tmp_path)


def test_fsync_no_stores_as_scp_does(sshd_server: SSHServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`fsync: no`: not one fsync on the server (neither during the upload nor before the rename); the archive
    still lands whole under its final name."""
    from corral.testing.storage_contract import traced
    from corral_storage_ssh import transfer

    monkeypatch.setattr(transfer, "SYNC_AFTER", 2**20)
    monkeypatch.setattr(transfer, "SYNC_EVERY", 2**20)
    storage = fresh(entry(sshd_server, fsync=False))
    local = tmp_path / "archive.bin"
    local.write_bytes(os.urandom(5 * 2**20))
    remote = posixpath.join(storage.root, "site", "site_2026-03-01_03-00-00.tar.gz")
    with traced(server_pids(sshd_server.port), tmp_path / "server.trace", "fsync,fdatasync,rename") as calls:
        storage.put(local, remote)
        seen = calls()
    assert Path(remote).read_bytes() == local.read_bytes()
    assert any(call.startswith("rename(") for call in seen), seen
    assert not [call for call in seen if call.startswith(("fsync(", "fdatasync("))], seen


def test_every_error_of_a_killed_session_is_retried_and_refusals_are_not(server_tmp_path: Path, tmp_path: Path) -> None:
    """Real paramiko errors over a real ssh child: what a dead session raises is retried, a refusal is not."""
    with start_sshd(server_tmp_path) as server:
        storage = fresh(entry(server))
        fs = storage.fs.inner
        denied = raised(lambda: fs.ftp.open("/root/corral-denied", "w"))  # the server's user is not root
        missing = raised(lambda: fs.ftp.stat(str(server.home / "nothing-here")))
        assert isinstance(storage.fs.clean(denied, "upload to"), PermissionError)
        assert isinstance(storage.fs.clean(missing, "look up"), FileNotFoundError)
        assert not any(is_transient(storage.fs.clean(exc, "")) for exc in (denied, missing))
        assert kill_connections(server.port), "no connection to kill"
        fs.session.process.wait(timeout=30)  # ssh saw its connection die and exited
        local = tmp_path / "a.bin"
        local.write_bytes(os.urandom(100_000))
        dead = [raised(lambda: fs.put_file(str(local), str(server.home / "x"))), raised(lambda: fs.ftp.stat("/"))]
        for exc in dead:
            assert is_transient(storage.fs.clean(exc, "upload to")), f"{type(exc).__name__}: {exc}"


def test_a_server_refusing_setstat_stores_anyway_and_says_so_once(
    server_tmp_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with start_sshd(server_tmp_path, sftp_flags="-P setstat,fsetstat") as server:
        storage = fresh(entry(server, file_mode="0640"))
        local = tmp_path / "a.bin"
        local.write_bytes(os.urandom(100_000))
        for name in ("a/a_2026-01-01_00-00-00.tar", "b/b_2026-01-01_00-00-00.tar"):
            storage.put(local, posixpath.join(storage.root, name))
            stored = Path(storage.root) / name
            assert stored.read_bytes() == local.read_bytes()
            assert stored.stat().st_mode & 0o777 == 0o640 & ~0o022  # the open's mode, minus sshd's umask
    refusals = [r.getMessage() for r in caplog.records if "refused to set permissions" in r.getMessage()]
    who = f"sftp://{server.user}@{server.host}:{server.port}"
    assert len(refusals) == 1 and refusals[0].startswith(f"{who}: the server refused to set permissions"), refusals


def test_sigterm_while_connecting_stops_the_run(tmp_path: Path) -> None:
    """SIGTERM while ssh waits for a silent server ends the run (143) at once: never a "lost connection" retried."""
    from corral.testing.cli import CORRAL, local_storage, write_main

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("a\n")
    with blackhole() as port:
        hung = {"storage": "sftp", "backup_dir": "/b", "host": "127.0.0.1", "port": port, "user": "u",
                "password": "secret-pw", "host_key_check": False, "timeout": 20, "retries": 2}
        local = local_storage(tmp_path / "b")
        jobs = [{"job": job, "type": "desc_files", "sources": [{"target": [str(tmp_path / "src")]}],
                 "storages": [hung, local] if job == "first" else [local]} for job in ("first", "second")]
        main = write_main(tmp_path, jobs)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
        run = subprocess.Popen([*CORRAL, "start", "-c", str(main)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
        log = tmp_path / "log" / "corral.log"
        deadline = time.monotonic() + 30
        while not (log.exists() and "[first] job started" in log.read_text()):
            assert time.monotonic() < deadline and run.poll() is None, "the job never started"
            time.sleep(0.05)
        time.sleep(1)  # ssh is waiting for the server's banner
        run.terminate()
        try:
            _out, err = run.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            run.kill()
            _out, err = run.communicate()
            raise AssertionError(f"SIGTERM did not stop the run:\n{err}") from None
    assert run.returncode == 143, err
    assert "retrying" not in err and "[second]" not in err and "Traceback" not in err, err
    assert not (tmp_path / "b").exists()


def test_a_stream_arrives_whole_in_writes_as_large_as_the_server_takes(sshd_server: SSHServer) -> None:
    """From a pipe (no file, no seek, reads of any size), created with the storage's mode, fsync'd, byte-identical."""
    storage = fresh(entry(sshd_server))
    fs = storage.fs.inner
    assert fs.write_size > 32768, "OpenSSH announces 255 KiB writes (limits@openssh.com)"
    payload = os.urandom(3 * fs.write_size + 12345)
    reader, writer = os.pipe()

    def produce() -> None:
        with open(writer, "wb", buffering=0) as out:
            for start in range(0, len(payload), 70_001):  # reads smaller than a write and across their borders
                out.write(payload[start : start + 70_001])

    producer = threading.Thread(target=produce)
    producer.start()
    remote = posixpath.join(storage.root, NAME)
    storage.fs.makedirs(posixpath.dirname(remote), exist_ok=True)
    with open(reader, "rb", buffering=0) as source:
        assert fs.put_stream(source, remote, file_mode=0o640) == len(payload)
    producer.join()
    assert Path(remote).read_bytes() == payload
    assert Path(remote).stat().st_mode & 0o777 == 0o640


def test_a_large_upload_is_fsynced_while_it_arrives_over_the_same_login(
    sshd_server: SSHServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's disk writes while the network sends: a second SFTP channel, over the same login, fsyncs the
    file before its last bytes even exist; the upload's own fsync follows them; the shared connection's folder
    goes with the storage."""
    from corral.testing.storage_contract import traced
    from corral_storage_ssh import transfer

    monkeypatch.setattr(transfer, "SYNC_AFTER", 2**20)
    monkeypatch.setattr(transfer, "SYNC_EVERY", 2**20)
    logins = sshd_server.log.read_text().count("Accepted publickey")
    storage = fresh(entry(sshd_server))
    fs = storage.fs.inner
    private = Path(fs.session.private)
    remote = posixpath.join(storage.root, ".upload.partial-0123abcd")
    storage.fs.makedirs(storage.root, exist_ok=True)
    first, rest = os.urandom(3 * 2**20), os.urandom(2**20 + 5)
    reader, writer = os.pipe()
    with traced(server_pids(sshd_server.port), tmp_path / "server.trace", "fsync,fdatasync") as calls:

        def synced() -> list[str]:
            return [call for call in calls() if call.startswith(("fsync(", "fdatasync(")) and ".partial-" in call]

        def produce() -> None:
            with open(writer, "wb", buffering=0) as out:
                out.write(first)
                deadline = time.monotonic() + 20
                while not synced() and time.monotonic() < deadline:
                    time.sleep(0.05)
                out.write(rest)

        producer = threading.Thread(target=produce)
        producer.start()
        with open(reader, "rb", buffering=0) as source:
            fs.put_stream(source, remote, file_mode=0o600)
        producer.join()
        assert len(synced()) >= 2, "no fsync while the upload was in progress, or none after it"
    assert Path(remote).read_bytes() == first + rest
    assert sshd_server.log.read_text().count("Accepted publickey") == logins + 1, "a second login"
    assert private.exists()
    storage.close()
    assert not private.exists()


def test_a_write_the_server_refuses_is_an_error_not_a_short_file(sshd_server: SSHServer) -> None:
    from corral_storage_ssh.transfer import Upload

    storage = fresh(entry(sshd_server))
    fs = storage.fs.inner
    path = sshd_server.home / f"read-only-{secrets.token_hex(4)}"
    path.write_bytes(b"")
    handle = fs.ftp.open(str(path), "rb")  # writes to a handle opened for reading are refused
    with pytest.raises(OSError) as caught, Upload(fs.ftp, fs.session.pipe, handle.handle, fs.write_size) as upload:
        upload.write(os.urandom(100_000))
        upload.finish()
    assert not is_transient(storage.fs.clean(caught.value, "upload to")), caught.value
    assert fs.ftp.stat("/").st_mode  # the session still answers


def test_a_storage_never_closed_leaves_no_private_folder_at_exit(sshd_server: SSHServer, tmp_path: Path) -> None:
    """A program that opens the storage and exits without closing it (a script, a bench) leaves no `corral-ssh-*`
    folder in TMPDIR: 110 of them had piled up in /tmp on a test machine in one afternoon."""
    script = (
        "import json, sys\n"
        "from corral.testing.storage_contract import open_storage\n"
        "storage = open_storage(json.loads(sys.argv[1]))\n"
        "storage.list()\n"
        "print(storage.fs.inner.session.private)\n"
    )
    import json
    import sys

    done = subprocess.run([sys.executable, "-c", script, json.dumps(entry(sshd_server))], capture_output=True,
                          text=True, env={**os.environ, "TMPDIR": str(tmp_path)}, timeout=60)
    assert done.returncode == 0, done.stderr
    private = Path(done.stdout.strip())
    assert private.parent == tmp_path and private.name.startswith("corral-ssh-"), private
    assert not private.exists(), "left behind at exit"
