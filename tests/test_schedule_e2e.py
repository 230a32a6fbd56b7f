"""``corral schedule install|show|remove`` through the real command, under ``--root`` instead of ``/``."""

from __future__ import annotations

import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from corral.schedule import MARKER
from corral.testing.cli import corral, local_storage, write_main
from corral_testservers.prerequisites import require_executable

SERVICE = "etc/systemd/system/corral-backup.service"
TIMER = "etc/systemd/system/corral-backup.timer"
CRON = "etc/cron.d/corral"
JANUARY = {"CORRAL_NOW": "2026-01-31T04:00:00"}


def schedule(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return corral("schedule", *map(str, args), env=env)


def cron_command(text: str) -> str:
    """The command cron runs for ``text``: up to the first bare ``%``, with ``\\%`` and ``\\\\`` unescaped (cron's
    ``do_command.c``)."""
    out, escaped = [], False
    for char in text:
        if escaped:
            if char not in "%\\":
                out.append("\\")
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            break
        else:
            out.append(char)
    return "".join(out)


def assert_ours(path: Path) -> str:
    assert stat.S_IMODE(path.lstat().st_mode) == 0o644 and path.is_file() and not path.is_symlink()
    text = path.read_text()
    assert text.splitlines()[0] == MARKER
    return text


def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = require_executable("systemd-analyze", apt="systemd")
    root, config = tmp_path / "root", tmp_path / "corral.conf"
    done = schedule("install", "--systemd", "--root", root, "--at", "3:15", "--jobs", "databases", "-c", config,
                    "--runtime-max", "6h", "--random-delay", "15min", env=JANUARY)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"wrote {root / SERVICE}", f"wrote {root / TIMER}",
                                        "next run: 2026-02-01 03:15 (local time)"]  # fmt: skip
    service, timer = assert_ours(root / SERVICE), assert_ours(root / TIMER)
    for line in ("Nice=10", "IOSchedulingClass=best-effort", "IOSchedulingPriority=7", "RuntimeMaxSec=6h"):
        assert line in service.splitlines()
    (exec_start,) = [line.removeprefix("ExecStart=") for line in service.splitlines() if line.startswith("ExecStart")]
    program, *args = shlex.split(exec_start)
    assert Path(program).is_absolute() and Path(program).name == "corral"
    assert args == ["start", "databases", "-c", str(config)]
    for line in ("OnCalendar=*-*-* 03:15:00", "Persistent=true", "RandomizedDelaySec=15min", "WantedBy=timers.target"):
        assert line in timer.splitlines()
    verified = subprocess.run([analyze, "verify", "--man=no", root / SERVICE, root / TIMER], capture_output=True,
                              text=True, timeout=60)  # fmt: skip
    # it exits 0 on an unknown key or a bad value, only saying so: any output is a defect
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")


def test_systemd_is_chosen_where_it_runs_and_cron_elsewhere(tmp_path: Path) -> None:
    with_systemd, without = tmp_path / "a", tmp_path / "b"
    (with_systemd / "run/systemd/system").mkdir(parents=True)
    assert schedule("install", "--root", with_systemd).returncode == 0
    assert schedule("install", "--root", without).returncode == 0
    assert (with_systemd / TIMER).exists() and not (with_systemd / CRON).exists()
    assert (without / CRON).exists() and not (without / "etc/systemd").exists()


def test_cron_line_is_valid_and_its_command_runs_a_backup(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f.txt").write_text("x")
    backups = tmp_path / "backups"
    jobs = [{"job": "data", "type": "desc_files", "sources": [{"target": [str(tmp_path / "data")]}],
             "storages": [local_storage(backups)]}]  # fmt: skip
    config = write_main(tmp_path, jobs).rename(tmp_path / "100%\\.conf")  # `%` is a line break to cron, `\\` one `\`
    root = tmp_path / "root"
    done = schedule("install", "--cron", "--root", root, "--at", "23:05", "-c", config)
    assert done.returncode == 0, done.stderr
    entries = [line for line in assert_ours(root / CRON).splitlines() if line and not line.startswith("#")
               and "=" not in line.split()[0]]  # fmt: skip
    (entry,) = entries
    minute, hour, day, month, weekday, user, command = entry.split(None, 6)
    assert (minute, hour, day, month, weekday, user) == ("5", "23", "*", "*", "*", "root")
    words = shlex.split(cron_command(command))
    assert words[-4:] == ["start", "all", "-c", str(config)]
    assert all(shutil.which(word) for word in ("nice", "ionice", "timeout"))
    ran = subprocess.run(["/bin/sh", "-c", cron_command(command)], capture_output=True, text=True, timeout=120)
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "", ""), ran.stdout + ran.stderr  # cron mails nothing
    assert list(backups.rglob("*.tar*"))


def test_show_then_remove(tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert schedule("install", "--systemd", "--root", root, "--at", "01:00").returncode == 0
    shown = schedule("show", "--root", root, env=JANUARY)
    assert shown.returncode == 0
    assert f"# {root / TIMER}" in shown.stdout and "OnCalendar=*-*-* 01:00:00" in shown.stdout
    assert "next run: 2026-02-01 01:00 (local time)" in shown.stdout
    removed = schedule("remove", "--root", root)
    assert (removed.returncode, removed.stdout.splitlines()) == (0, [f"removed {root / SERVICE}",
                                                                      f"removed {root / TIMER}"])  # fmt: skip
    assert not (root / SERVICE).exists() and not (root / TIMER).exists()
    nothing = schedule("show", "--root", root)
    assert nothing.returncode == 1 and "no schedule installed" in nothing.stdout


def test_a_foreign_file_is_never_replaced_nor_removed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/cron.d").mkdir(parents=True)
    theirs = "# our own cron job\n0 1 * * * root /usr/local/bin/backup.sh\n"
    (root / CRON).write_text(theirs)
    refused = schedule("install", "--cron", "--root", root)
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"corral: error: `{root / CRON}` was not written by corral")
    assert schedule("install", "--systemd", "--root", root).returncode == 0  # another path: theirs stays
    removed = schedule("remove", "--root", root)
    assert removed.returncode == 1 and f"`{root / CRON}` was not written by corral" in removed.stderr
    assert not (root / TIMER).exists()  # corral's own files went
    assert (root / CRON).read_text() == theirs


def test_a_planted_symlink_is_not_written_through(tmp_path: Path) -> None:
    root, victim = tmp_path / "root", tmp_path / "victim"
    victim.write_text("precious\n")
    (root / "etc/cron.d").mkdir(parents=True)
    (root / CRON).symlink_to(victim)
    assert schedule("install", "--cron", "--root", root).returncode == 1
    assert schedule("remove", "--root", root).returncode == 1
    assert victim.read_text() == "precious\n" and (root / CRON).is_symlink()


def test_a_file_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "etc").write_text("a file where the folder should be\n")
    done = schedule("install", "--cron", "--root", root)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"corral: error: cannot write `{root / 'etc'}`: File exists"]


def test_bad_options_are_one_line_and_exit_2(tmp_path: Path) -> None:
    for args in (["--at", "25:00"], ["--at", "2.30"], ["--runtime-max", "1x"], ["--cron", "--random-delay", "5min"]):
        done = schedule("install", "--root", tmp_path, *args)
        assert done.returncode == 2, args
        assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("corral: error: "), done.stderr
    assert list(tmp_path.iterdir()) == []


def test_dry_run_prints_the_files_and_writes_nothing(tmp_path: Path) -> None:
    done = schedule("install", "--systemd", "--dry-run", "--root", tmp_path, "--at", "04:45")
    assert done.returncode == 0
    assert f"# {tmp_path / SERVICE} (--dry-run: not written)" in done.stdout
    assert "OnCalendar=*-*-* 04:45:00" in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_install_refuses_what_would_fail_every_night(tmp_path: Path) -> None:
    root = tmp_path / "root"
    config = root / "etc" / "corral" / "corral.conf"
    config.parent.mkdir(parents=True)
    write_main(config.parent, [{"job": "www", "type": "desc_files", "sources": [{"target": ["/srv/*/"]}],
                                "storages": [local_storage(tmp_path / "b")]}])  # fmt: skip
    for args, said in ((("--jobs", "wwww"), "--jobs `wwww` is no job of"), (("--runtime-max", "8d"), "longer than")):
        done = schedule("install", "--cron", "--root", root, "-c", "/etc/corral/corral.conf", *args)
        assert done.returncode == 2 and said in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
        assert not (root / CRON).exists()
    done = schedule("install", "--cron", "--root", root, "-c", "/etc/corral/corral.conf", "--jobs", "www")
    assert done.returncode == 0, done.stderr


def test_install_refuses_a_corral_another_user_could_change(tmp_path: Path) -> None:
    """root running ``~alice/.local/bin/corral schedule install`` would hand alice root every night."""
    script = tmp_path / "userbin" / "corral"
    script.parent.mkdir()
    shutil.copy2(Path(sys.executable).parent / "corral", script)  # the venv's script: #! the venv's python
    shutil.chown(script, "nobody")
    done = subprocess.run([str(script), "schedule", "install", "--cron", "--root", str(tmp_path / "root"),
                           "-c", str(tmp_path / "corral.conf")], capture_output=True, text=True)  # fmt: skip
    assert done.returncode != 0 and "every night" in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
    assert not (tmp_path / "root" / CRON).exists()
