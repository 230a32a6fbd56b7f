"""inc_files with `encrypt:`: nothing plain on the storages (archives and snapshots are age files), the next run
continues from the private local state, a lost state starts a new full chain and says so, the chain restores with
the identity and with age + tar -G alone (docs/encryption.md), and copied chain files keep their checksums."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from corral.testing.cli import CORRAL, corral, local_storage, write_main
from corral.testing.trees import snapshot
from tests import test_encryption_e2e

MARK = b"plain-content-7781"
NAME_MARK = "plain-name-7781"
key = test_encryption_e2e.key  # the fixture: an age identity file and its public key


def _site(tmp_path: Path) -> Path:
    site = tmp_path / "www" / "shop"
    (site / "upload").mkdir(parents=True)
    for index in range(5):
        (site / "upload" / f"{NAME_MARK}-{index}.txt").write_bytes(MARK * (index + 1))
    return site


def _change(site: Path, day: str) -> None:
    """A new file, a changed one, a deleted one and a new folder: what -G must replay."""
    (site / f"new-{day}.txt").write_bytes(MARK + day.encode())
    survivors = sorted((site / "upload").iterdir())
    survivors[0].unlink()
    if len(survivors) > 1:
        survivors[-1].write_bytes(MARK + b" changed " + day.encode())
    (site / f"dir-{day}").mkdir()


def _main(tmp_path: Path, public: str, storages: list[Path]) -> Path:
    job = {"job": "inc", "type": "inc_files", "state_dir": str(tmp_path / "state"),
           "sources": [{"target": [str(tmp_path / "www" / "*")], "compression": "zstd"}],
           "storages": [local_storage(path) for path in storages]}
    return write_main(tmp_path, [job], encrypt={"recipients": [public]})


def _start(main: Path, day: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    done = corral("start", "-v", "-c", str(main), env={"CORRAL_NOW": f"{day}T03:00:00"})
    shutil.rmtree(tmp_path / "tmp", ignore_errors=True)  # only the state folder survives between runs
    return done


def _restore(main: Path, day: str, dest: Path, identity: Path) -> subprocess.CompletedProcess[str]:
    return corral("restore", "inc", "-t", "shop", "--date", day, "--to", str(dest), "--identity", str(identity),
                  "-c", str(main))


def _tar_version() -> str:
    return subprocess.run(["tar", "--version"], capture_output=True, text=True, check=True).stdout.split()[3]


def _all_sealed(storage: Path) -> None:
    for path in storage.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert MARK not in data and NAME_MARK.encode() not in data, path
            if not {".manifests", ".runs"} & set(path.parts):  # checksums and run records are plain JSON
                assert path.name.endswith(".age") and data.startswith(b"age-encryption.org/v1\n"), path


def test_encrypted_chain_restores_with_the_identity_and_with_age_and_tar(tmp_path: Path,
                                                                          key: tuple[Path, str]) -> None:
    identity, public = key
    site = _site(tmp_path)
    backups = tmp_path / "b"
    main = _main(tmp_path, public, [backups])
    states = {}
    for index, day in enumerate(["2026-01-01", "2026-01-03", "2026-01-11", "2026-01-12", "2026-02-01", "2026-02-02"]):
        if index:
            _change(site, day)
        done = _start(main, day, tmp_path)
        assert done.returncode == 0, done.stderr
        assert "starting a new full chain" not in done.stderr
        states[day] = snapshot(site)
    _all_sealed(backups)
    year = backups / "inc" / "shop" / "2026"
    levels = sorted(p.name.split(".", 1)[1] for p in year.iterdir())
    assert levels.count("full.snar.age") == 1 and levels.count("month.tar.zst.age") == 1
    assert levels.count("decade.snar.age") == 1 and levels.count("day.tar.zst.age") == 3
    record = json.loads((backups / "inc" / ".manifests" / "2026-01-01_03-00-00.json").read_text())
    [full] = [entry for entry in record["archives"] if entry["extension"] == "full.tar.zst.age"]
    assert full["facts"] == {"level": "full", "tool": f"GNU tar {_tar_version()}", "files": 5,
                             "bytes": len(MARK) * 15, "dirs": 2, "symlinks": 0}
    state = tmp_path / "state" / "inc" / "shop"
    assert oct(state.stat().st_mode & 0o777) == "0o700"
    assert {oct(p.stat().st_mode & 0o777) for p in state.iterdir()} == {"0o600"}
    for day in ("2026-01-12", "2026-02-02"):
        done = _restore(main, day, tmp_path / f"r-{day}", identity)
        assert done.returncode == 0, done.stderr
        assert snapshot(tmp_path / f"r-{day}" / "shop") == states[day]
    # docs/encryption.md: by hand, the full then each level in order, with age and tar -G only
    manual = tmp_path / "manual"
    manual.mkdir()
    for name in ("2026-01-01_03-00-00.full", "2026-02-01_03-00-00.month", "2026-02-02_03-00-00.day"):
        archive = year / f"shop_{name}.tar.zst.age"
        subprocess.run(f"age -d -i {identity} {archive} | tar -x -G --zstd -f - -C {manual}", shell=True, check=True)
    assert snapshot(manual / "shop") == states["2026-02-02"]


def test_lost_local_state_starts_a_new_full_chain_and_says_so(tmp_path: Path, key: tuple[Path, str]) -> None:
    identity, public = key
    site = _site(tmp_path)
    backups = tmp_path / "b"
    main = _main(tmp_path, public, [backups])
    assert _start(main, "2026-05-01", tmp_path).returncode == 0
    shutil.rmtree(tmp_path / "state")  # a new server, a wiped disk
    _change(site, "2026-05-02")
    done = _start(main, "2026-05-02", tmp_path)
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stderr.splitlines() if "starting a new full chain" in line]
    assert "[INFO]" in line and "shop_2026-05-01_03-00-00.full.snar" in line, line
    assert (backups / "inc" / "shop" / "2026" / "shop_2026-05-02_03-00-00.full.tar.zst.age").exists()
    _change(site, "2026-05-03")
    done = _start(main, "2026-05-03", tmp_path)
    assert done.returncode == 0 and "day archive on the full of 2026-05-02" in done.stderr, done.stderr
    assert _restore(main, "2026-05-03", tmp_path / "r", identity).returncode == 0
    assert snapshot(tmp_path / "r" / "shop") == snapshot(site)
    _all_sealed(backups)


def test_a_wrong_identity_is_one_line(tmp_path: Path, key: tuple[Path, str]) -> None:
    _, public = key
    _site(tmp_path)
    main = _main(tmp_path, public, [tmp_path / "b"])
    assert _start(main, "2026-05-01", tmp_path).returncode == 0
    other = tmp_path / "other.txt"
    subprocess.run(["age-keygen", "-o", str(other)], check=True, capture_output=True)
    done = _restore(main, "2026-05-01", tmp_path / "r", other)
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("corral: error: cannot decrypt `") and "no identity matched any of the recipients" in line


def test_verify_covers_chain_files_copied_to_a_storage_that_was_down(tmp_path: Path, key: tuple[Path, str]) -> None:
    identity, public = key
    site = _site(tmp_path)
    first, second = tmp_path / "first", tmp_path / "second"
    main = _main(tmp_path, public, [first, second])
    for day in ("2026-03-01", "2026-03-11", "2026-03-12"):
        _change(site, day)
        down = day == "2026-03-11"
        if down:  # the second storage's folder is unusable for the decade's base
            second.rename(tmp_path / "away")
            second.write_text("unavailable")
        done = _start(main, day, tmp_path)
        if down:
            second.unlink()
            (tmp_path / "away").rename(second)
        assert done.returncode == int(down), done.stderr
    copied = second / "inc" / "shop" / "2026" / "shop_2026-03-11_03-00-00.decade.snar.age"
    assert copied.exists()
    record = (second / "inc" / ".manifests" / "2026-03-11_03-00-00.sha256").read_text()
    assert record == (first / "inc" / ".manifests" / "2026-03-11_03-00-00.sha256").read_text()
    done = corral("verify", "inc", "--all", "--deep", "--identity", str(identity), "-c", str(main))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verify --deep: 10 archive(s) ok, 0 bad, 0 unverifiable, on 2 storage(s)" in done.stdout + done.stderr
    _all_sealed(second)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a size-limited tmpfs (root only)")
def test_a_full_state_dir_fails_each_target_alone_and_the_next_run_makes_the_level_again(
        tmp_path: Path, key: tuple[Path, str]) -> None:
    """A state_dir with no space left: every target is still dumped (one line each, naming the state folder), no
    snapshot is stored that this server could not continue, and the next run with space makes a full chain."""
    _identity, public = key
    for name in ("shop", "blog", "wiki"):
        (tmp_path / "www" / name).mkdir(parents=True)
        (tmp_path / "www" / name / "index.php").write_bytes(os.urandom(50_000))
    backups = tmp_path / "b"
    main = _main(tmp_path, public, [backups])
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    command = (f"mount -t tmpfs -o size=64k,mode=0700 none {state} && "
               f"(dd if=/dev/zero of={state}/filler bs=4k count=64 2>/dev/null; true) && "
               f"{shlex.join([*CORRAL, 'start', '-v', '-c', str(main)])}; echo exit=$? >&2")
    done = subprocess.run(["unshare", "-m", "sh", "-c", command], capture_output=True, text=True, timeout=120,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")},
                               "CORRAL_NOW": "2026-05-01T03:00:00"})
    assert "exit=1" in done.stderr and "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if "[ERROR]" in line and "cannot be kept" in line]
    assert len(errors) == 3, done.stderr
    assert all(f"the state folder `{state}/inc/" in line and "No space left on device" in line for line in errors)
    stored = sorted(path.name for path in backups.rglob("*.age"))
    assert stored == [f"{name}_2026-05-01_03-00-00.full.tar.zst.age" for name in ("blog", "shop", "wiki")], stored
    shutil.rmtree(tmp_path / "tmp", ignore_errors=True)
    done = _start(main, "2026-05-02", tmp_path)  # the tmpfs went with its namespace: state_dir has room again
    assert done.returncode == 0, done.stderr
    assert len(list(backups.rglob("*_2026-05-02_03-00-00.full.snar.age"))) == 3, done.stderr


@pytest.mark.parametrize(("state_dir", "said"), [("var/lib/corral", "write an absolute path"),
                                                 ('"/var/lib/cor\\0ral"', "cannot hold a NUL")])
def test_a_relative_or_nul_state_dir_is_one_configuration_line(tmp_path: Path, key: tuple[Path, str],
                                                                state_dir: str, said: str) -> None:
    """Relative, cron's run (started in /root) and the admin's (in /etc/corral) would keep two states and start
    new full chains in turn; `corral check` said ok to both, and a NUL failed the run with a ValueError."""
    _identity, public = key
    _site(tmp_path)
    main = _main(tmp_path, public, [tmp_path / "b"])
    main.write_text(main.read_text().replace(str(tmp_path / "state"), state_dir))
    for command in ("check", "start"):
        done = corral(command, "-c", str(main))
        assert done.returncode in (1, 2) and "Traceback" not in done.stderr, done.stderr
        [line] = [line for line in done.stderr.splitlines() if "state_dir" in line]
        assert said in line, done.stderr
    assert not (tmp_path / "b").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="gives the backup folder to another user")
def test_a_night_the_storage_cannot_be_listed_keeps_the_local_state(tmp_path: Path, key: tuple[Path, str]) -> None:
    """The storage that holds the chain cannot be listed one night (down, or refused): the local snapshots are
    kept, and the next night continues the chain (they were pruned as unneeded: a new full chain followed)."""
    _identity, public = key
    site = _site(tmp_path)
    backups = tmp_path / "b"
    main = _main(tmp_path, public, [backups])
    assert _start(main, "2026-05-01", tmp_path).returncode == 0
    os.chown(backups, 65534, -1)  # the local storage refuses a backup folder another user owns
    _change(site, "2026-05-02")
    assert _start(main, "2026-05-02", tmp_path).returncode == 1
    os.chown(backups, 0, -1)
    assert (tmp_path / "state" / "inc" / "shop" / "shop_2026-05-01_03-00-00.full.snar").is_file()
    _change(site, "2026-05-03")
    done = _start(main, "2026-05-03", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "new full chain" not in done.stderr and "day archive on the full of 2026-05-01" in done.stderr, done.stderr
