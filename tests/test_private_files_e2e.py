"""What a full run leaves on disk, and everything it writes while it runs, is readable by the running user only."""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from pathlib import Path

import pytest

from corral.testing.cli import corral, local_storage, write_main
from corral_testservers import MariaDB, Postgres
from tests.conftest import report_json, script


class ModeWatcher:
    """Walks folders every few milliseconds while a run goes on, remembering every path and mode it saw."""

    def __init__(self, *roots: Path) -> None:
        self.roots = roots
        self.seen: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.snapshot()
            self._stop.wait(0.005)

    def snapshot(self) -> None:
        for root in self.roots:
            if root.exists():
                self.seen[str(root)] = root.lstat().st_mode
            for folder, dirs, files in os.walk(root):
                for name in [*dirs, *files]:
                    path = os.path.join(folder, name)
                    with contextlib.suppress(FileNotFoundError):  # removed between the listing and the look
                        self.seen[path] = os.lstat(path).st_mode

    def __enter__(self) -> ModeWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.snapshot()


def _connect(server: MariaDB | Postgres) -> dict[str, object]:
    return {"db_host": server.host, "db_port": server.port, "db_user": server.user, "db_password": server.password}


def test_every_file_a_full_run_writes_is_private(
    tmp_path: Path, sites: Path, postgres_server: Postgres, mariadb_server: MariaDB
) -> None:
    backups = tmp_path / "backups"
    ext = script(tmp_path / "ext.sh", 'echo x > "$CORRAL_TMP_DIR/x.txt"\n' + report_json("$CORRAL_TMP_DIR/x.txt", "x"))
    store = {"days": 3}
    jobs = [
        {"job": "sites", "type": "desc_files", "sources": [{"target": [f"{sites}/*/"], "gzip": True}],
         "storages": [local_storage(backups, store=store)]},
        {"job": "sites-inc", "type": "inc_files", "sources": [{"target": [f"{sites}/*/"]}],
         "storages": [local_storage(backups)]},
        {"job": "ext", "type": "external", "dump_cmd": ext, "storages": [local_storage(backups, store=store)]},
        {"job": "pg", "type": "postgresql", "storages": [local_storage(backups, store=store)],
         "sources": [{"connect": _connect(postgres_server), "target": ["postgres"], "globals": True}]},
        {"job": "maria", "type": "mysql", "storages": [local_storage(backups, store=store)],
         "sources": [{"connect": _connect(mariadb_server), "target": ["mysql"]}]},
    ]
    main = write_main(tmp_path, jobs)
    generated = tmp_path / "conf.d" / "extra.conf"
    made = corral("generate", "--type", "desc_files", "--storage", "local", "--path", str(generated))
    assert made.returncode == 0, made.stderr
    with ModeWatcher(tmp_path / "tmp", backups, tmp_path / "log") as watcher:
        done = corral("start", "-c", str(main))
    assert done.returncode == 0, done.stderr
    watcher.seen[str(generated)] = generated.lstat().st_mode

    names = {Path(path).name for path in watcher.seen}
    assert {"globals", "postgres", "mysql", "corral.log", "corral.lock"} <= names
    assert any(name.endswith(".snar") for name in names)  # inc_files' snapshots
    assert any(name.endswith(".cnf") for name in names)  # mysql's option file with the password
    assert any(name.startswith(".pgpass") for name in names)  # postgresql's password file
    assert any(name.startswith(".corral-work-") for name in names)  # the per-job work folders were seen
    assert any(".partial-" in name or name.endswith(".tar.gz") for name in names)
    loose = {path: f"{stat.S_IMODE(mode):04o}" for path, mode in watcher.seen.items()
             if stat.S_IMODE(mode) & 0o077 and not stat.S_ISLNK(mode)}
    assert loose == {}, "files or folders others can read"


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_storage_can_ask_for_another_mode(tmp_path: Path, sites: Path, kind: str) -> None:
    """`file_mode`/`dir_mode` on a storage: the one place where the admin widens what corral writes."""
    backups = tmp_path / "backups"
    extra = {"file_mode": "0640"} if kind == "file" else {"dir_mode": "0750"}
    job = {"job": "sites", "type": "desc_files", "sources": [{"target": [f"{sites}/*/"]}],
           "storages": [local_storage(backups, **extra)]}
    done = corral("start", "-c", str(write_main(tmp_path, [job])))
    assert done.returncode == 0, done.stderr
    archives = list(backups.rglob("*_*.tar*"))
    assert archives
    for archive in archives:
        assert stat.S_IMODE(archive.stat().st_mode) == (0o640 if kind == "file" else 0o600)
        assert stat.S_IMODE(archive.parent.stat().st_mode) == (0o700 if kind == "file" else 0o750)
