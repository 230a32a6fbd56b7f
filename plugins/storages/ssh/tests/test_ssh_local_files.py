"""Local files an ssh storage needs (key, known_hosts) and host-key trouble: what `corral check` and a run say.

A mistyped path must fail `corral check` with file:line:key, and a file gone by the time of the connection must be
named as the local file it is, never read like a missing remote folder.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from corral.config.models import JobConfig
from corral.runner import Storage
from corral.testing.cli import corral, local_storage, write_main
from corral.testing.storage_contract import fresh_storage, storage_config
from corral_testservers import SSHServer, start_sshd
from corral_testservers.faults import kill_connections


def entry(server: SSHServer, **extra: Any) -> dict[str, Any]:
    keys = {
        "storage": "sftp", "backup_dir": str(server.home / "backups"), "host": server.host, "port": server.port,
        "user": server.user, "path_to_key": str(server.key_path), "known_hosts": str(server.known_hosts),
    }  # fmt: skip
    keys.update(extra)
    return {k: v for k, v in keys.items() if v is not None}


def site_job(tmp_path: Path, storage: dict[str, Any]) -> dict[str, Any]:
    (tmp_path / "www").mkdir(exist_ok=True)
    return {"job": "site", "type": "desc_files", "sources": [{"target": [str(tmp_path / "www")]}],
            "storages": [storage, local_storage(tmp_path / "local")]}  # fmt: skip


def line_of(path: Path, key: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if line.strip().startswith(f"{key}:"))


@pytest.mark.parametrize(
    ("key", "make", "says"),
    [
        ("path_to_key", None, "does not exist"),
        ("known_hosts", None, "does not exist"),
        ("path_to_key", "folder", "is a folder, not a file"),
        ("known_hosts", "fifo", "is not a regular file"),
    ],
    ids=["missing key", "missing known_hosts", "key is a folder", "known_hosts is a fifo"],
)
def test_a_mistyped_local_file_fails_corral_check_with_file_line_and_key(
    sshd_server: SSHServer, tmp_path: Path, key: str, make: str | None, says: str
) -> None:
    wrong = tmp_path / f"typo-{key}"
    if make == "folder":
        wrong.mkdir()
    elif make == "fifo":
        os.mkfifo(wrong)
    main = write_main(tmp_path, [site_job(tmp_path, entry(sshd_server, **{key: str(wrong)}))])
    done = corral("check", "-c", str(main))
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.splitlines()
    # the core appends the value as given, " (got '/tmp/...')", cut at 60 characters
    assert line.startswith(
        f"corral: error: {main}:{line_of(main, key)}: job `site`: `storages[0].{key}`: local file `{wrong}` {says}"
    ), done.stderr


def test_a_relative_or_home_key_path(sshd_server: SSHServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative path depends on the folder corral starts in (cron's is not the admin's); `~` is the user's home."""
    main = write_main(tmp_path, [site_job(tmp_path, entry(sshd_server, path_to_key="id_ed25519"))])
    shutil.copy(sshd_server.key_path, tmp_path / "id_ed25519")
    done = corral("check", "-c", str(main), cwd=tmp_path)
    assert done.returncode == 2
    assert f"{main}:{line_of(main, 'path_to_key')}: job `site`: `storages[0].path_to_key`: write an absolute path: " \
           "`id_ed25519` is relative to the folder corral is started in" in done.stderr, done.stderr
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(sshd_server.key_path, home / ".ssh" / "id_test")
    main = write_main(tmp_path, [site_job(tmp_path, entry(sshd_server, path_to_key="~/.ssh/id_test"))])
    done = corral("check", "-c", str(main), env={"HOME": str(home)})
    assert done.returncode == 0, done.stderr


def test_an_unreadable_key_is_a_config_error(sshd_server: SSHServer, tmp_path: Path) -> None:
    """As the unprivileged user cron might run corral as: a root-only key is named now, not an auth failure later."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become another user")
    with tempfile.TemporaryDirectory(dir="/tmp") as public:  # pytest's tmp_path is private to root
        Path(public).chmod(0o755)
        key, known_hosts = Path(public) / "root-only-key", Path(public) / "known_hosts"
        shutil.copy(sshd_server.key_path, key)
        key.chmod(0o600)
        shutil.copy(sshd_server.known_hosts, known_hosts)
        known_hosts.chmod(0o644)
        hidden = tmp_path / "key-in-a-private-folder"
        shutil.copy(sshd_server.key_path, hidden)
        storage_config(entry(sshd_server))  # imports everything while root still can
        os.seteuid(pwd.getpwnam("nobody").pw_uid)  # corral cannot run as nobody here (the interpreter is in /root)
        try:
            with pytest.raises(ValidationError) as unreadable:
                storage_config(entry(sshd_server, path_to_key=str(key), known_hosts=str(known_hosts)))
            with pytest.raises(ValidationError) as unreachable:
                storage_config(entry(sshd_server, path_to_key=str(hidden), known_hosts=str(known_hosts)))
        finally:
            os.seteuid(0)
    assert [(e["loc"], e["msg"]) for e in unreadable.value.errors()] == [
        (("path_to_key",), f"Value error, local file `{key}` is not readable by user `nobody`")
    ]
    assert [(e["loc"], e["msg"]) for e in unreachable.value.errors()] == [
        (("path_to_key",), f"Value error, local file `{hidden}` cannot be reached by user `nobody` (a parent folder "
                           "is not searchable)")
    ]  # fmt: skip


@pytest.mark.parametrize("key", ["path_to_key", "known_hosts"])
def test_a_local_file_gone_by_connect_time_is_named_as_local(sshd_server: SSHServer, tmp_path: Path, key: str) -> None:
    copy = tmp_path / key
    shutil.copy(getattr(sshd_server, "key_path" if key == "path_to_key" else "known_hosts"), copy)
    copy.chmod(0o600)
    config = storage_config(entry(sshd_server, **{key: str(copy)}))  # validated: the file is there at check time
    copy.unlink()
    job = JobConfig(name="site", type="external", tmp_dir=tmp_path, options=None, sources=[], storages=[config])
    with pytest.raises(OSError) as caught:
        Storage(config, job)
    assert not isinstance(caught.value, FileNotFoundError), "a reconnect would read it as a missing remote folder"
    assert str(caught.value) == (f"sftp://{sshd_server.user}@{sshd_server.host}:{sshd_server.port}: cannot connect: "
                                 f"local file `{copy}` (`{key}`) does not exist")  # fmt: skip


def test_a_key_gone_before_a_reconnect_fails_the_listing_instead_of_emptying_it(server_tmp_path: Path,
                                                                                  tmp_path: Path) -> None:
    """The connection drops, the key has vanished meanwhile: the listing must fail, never come back empty (an empty
    listing is what a missing remote folder gives, and rotation and restore would act on it)."""
    with start_sshd(server_tmp_path) as server:
        key = tmp_path / "id_ed25519"
        shutil.copy(server.key_path, key)
        key.chmod(0o600)
        storage = fresh_storage(entry(server, path_to_key=str(key), timeout=5, retries=1))
        local = tmp_path / "a.tar"
        local.write_bytes(b"archive")
        storage.put(local, f"{storage.root}/a/a_2026-01-01_00-00-00.tar")
        assert len(storage.list()) == 1
        key.unlink()
        assert kill_connections(server.port), "no connection to kill"
        storage.fs.inner.session.process.wait(timeout=30)
        with pytest.raises(OSError) as caught:
            storage.list()
        assert str(caught.value).endswith(f"cannot list `{storage.root}`: local file `{key}` (`path_to_key`) does "
                                          "not exist")  # fmt: skip
