"""A configuration file another user could change is refused: through `dump_cmd` it would run commands as us.

The tests run as root, as corral does from cron. The main file, an included file, a ``!file`` (here the very
command the job runs) and the folders above them are in turn given to ``nobody`` or made group/other-writable;
the real ``corral check`` and ``corral start`` must refuse with one line naming the file and the fix, and run
nothing. A not-root run is checked in a child process that drops to ``nobody`` (the venv's Python lives under
root's home here, so no other user can start it).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corral.cli import app
from corral.config import load_yaml
from corral.testing.cli import corral, refusals

NOBODY = 65534
DAEMON = 1

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")


def _tree(root: Path) -> Path:
    """A main file (0600) including conf.d/job.conf (0644), whose job runs the command in the file `dump_cmd`."""
    (root / "conf.d").mkdir()
    (root / "corral.conf").write_text(
        f"main:\n  general_path_to_all_tmp_dir: {root}/tmp\n  log_file_name: {root}/corral.log\n"
        "jobs: !include [conf.d/*.conf]\n"
    )
    (root / "corral.conf").chmod(0o600)
    (root / "conf.d" / "job.conf").write_text(
        f"- job: ext\n  type: external\n  dump_cmd: !file ../dump_cmd\n"
        f"  storages: [{{storage: local, backup_dir: {root}/backups}}]\n"
    )
    (root / "conf.d" / "job.conf").chmod(0o644)
    (root / "dump_cmd").write_text(
        f'touch {root}/ran; echo data > "$CORRAL_TMP_DIR/x.txt"; '
        'echo "{\\"full_path\\": \\"$CORRAL_TMP_DIR/x.txt\\", \\"basename\\": \\"x\\", \\"extension\\": \\"txt\\"}"\n'
    )
    (root / "dump_cmd").chmod(0o600)
    return root / "corral.conf"


def test_files_only_root_can_change_run(tmp_path: Path) -> None:
    config = _tree(tmp_path)
    assert corral("check", "-c", str(config)).returncode == 0
    done = corral("start", "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ran").exists() and list((tmp_path / "backups" / "ext" / "x").glob("x_*.txt"))


@pytest.mark.parametrize(
    ("name", "change", "command"),
    [
        ("corral.conf", "chown", "check"),
        ("corral.conf", "chown", "start"),
        ("corral.conf", "g+w", "start"),
        ("corral.conf", "o+w", "check"),
        ("conf.d/job.conf", "chown", "check"),
        ("conf.d/job.conf", "g+w", "start"),
        ("conf.d/job.conf", "o+w", "check"),
        ("dump_cmd", "chown", "start"),
        ("dump_cmd", "g+w", "check"),
        ("dump_cmd", "o+w", "start"),
    ],
)
def test_file_another_user_could_change_is_refused(tmp_path: Path, name: str, change: str, command: str) -> None:
    config = _tree(tmp_path)
    target = tmp_path / name
    if change == "chown":
        os.chown(target, NOBODY, -1)
    else:
        target.chmod(target.stat().st_mode | (0o020 if change == "g+w" else 0o002))
    done = corral(command, "-c", str(config))
    # `start` runs the jobs of the files it trusts: a job file or a job refused fails alone (exit 1)
    assert done.returncode == (2 if command == "check" or name == "corral.conf" else 1), done.stderr
    (line,) = refusals(done)
    shown = {"corral.conf": config, "conf.d/job.conf": target, "dump_cmd": tmp_path / "dump_cmd"}[name]  # resolved
    if change == "chown":
        assert (
            f"`{shown}` belongs to `nobody` (uid 65534), so another user could change what corral runs as root" in line
        )
        assert line.endswith(f"; fix: `chown root {shown}`")
    else:
        who = "its group" if change == "g+w" else "every user"
        assert f"`{shown}` is writable by {who} (mode 06" in line and line.endswith(f"; fix: `chmod go-w {shown}`")
    if name != "corral.conf":  # named where it is included or read
        where = "corral.conf:4" if name.startswith("conf.d") else "conf.d/job.conf:3"
        assert line.startswith(f"{tmp_path}/{where}: ")
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize(("change", "fix"), [("chown", "chown root"), ("mode", "chmod go-w")])
@pytest.mark.parametrize("folder", ["conf.d", "."])
def test_folder_another_user_could_write_is_refused(tmp_path: Path, folder: str, change: str, fix: str) -> None:
    """A folder someone else owns or can write lets them put their own file in place of ours."""
    root = tmp_path / "etc"
    root.mkdir()
    config = _tree(root)
    target = (root / folder).resolve()
    if change == "chown":
        os.chown(target, NOBODY, -1)
    else:
        target.chmod(0o777)
    done = corral("start", "-c", str(config))
    assert done.returncode == (2 if folder == "." else 1), done.stderr
    (line,) = refusals(done)
    assert f"is in folder `{target}`, which " in line and line.endswith(f"; fix: `{fix} {target}`")
    assert not (root / "ran").exists()


def test_sticky_shared_folder_is_accepted_but_not_another_users_file_in_it(tmp_path: Path) -> None:
    """As /tmp: everyone may write a sticky folder, nobody may replace what is not theirs."""
    config = _tree(tmp_path)
    (tmp_path / "conf.d").chmod(0o1777)
    assert corral("check", "-c", str(config)).returncode == 0
    os.chown(tmp_path / "conf.d" / "job.conf", NOBODY, -1)
    done = corral("check", "-c", str(config))
    assert done.returncode == 2 and "belongs to `nobody`" in done.stderr


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A root-owned 0755 folder that ``nobody`` can read (pytest's own folders are root-only)."""
    path = Path(tempfile.mkdtemp(prefix="corral-owner-test-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def _as_user(uid: int, action: Callable[[], str]) -> str:
    """What ``action`` returns when run in a child process that has become ``uid``."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 1
        try:
            os.close(reader)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.write(writer, action().encode())
            status = 0
        finally:
            os._exit(status)
    os.close(writer)
    with os.fdopen(reader, "rb") as stream:
        answer = stream.read().decode()
    _, status = os.waitpid(pid, 0)
    assert status == 0, answer
    return answer


def _check(config: Path) -> str:
    result = CliRunner().invoke(app, ["check", "-c", str(config)])
    return f"{result.exit_code} {result.output}"


def test_not_root_refuses_a_config_another_user_owns(shared_dir: Path) -> None:
    """As ``nobody``, its own file loads and one of ``daemon``'s is refused.

    Only the refusal goes through ``corral check`` (in-process): a full check as ``nobody`` would need the
    Python install under root's home, which here only root can read.
    """
    config = shared_dir / "corral.conf"
    config.write_text("main:\n  server_name: test\njobs: []\n")
    os.chown(config, NOBODY, NOBODY)
    assert _as_user(NOBODY, lambda: repr(load_yaml(config))) == "{'main': {'server_name': 'test'}, 'jobs': []}"
    os.chown(config, DAEMON, DAEMON)
    assert _as_user(NOBODY, lambda: _check(config)) == (
        f"2 corral: error: `{config}` belongs to `daemon` (uid 1), so another user could change what corral runs "
        f"as nobody; fix: `chown nobody {config}`\n"
    )
