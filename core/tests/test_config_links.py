"""A link another user owns on the way to a configuration file is refused, as that user's own file would be.

The ownership check judged an included file by what it resolves to: a root-owned job file anywhere (even in a
folder that user cannot read) was accepted when reached through a link the user planted in their own folder, so
the user chose which of root's files corral loaded and ran (reproduced with ``!include [/srv/sites/*/backup.conf]``
and ``runuser -u nobody -- ln -s``). The path as written is now checked too: each link on it must belong to root
or the running user, and each folder on it must pass the same test as the folders of the real path.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corral.testing.cli import corral, refusals

NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")


def _hidden_job(root: Path) -> Path:
    """A job file root wrote for something else, in a folder only root can read."""
    hidden = root / "hidden"
    hidden.mkdir(mode=0o700)
    job = hidden / "other.conf"
    job.write_text(
        f"- job: planted\n  type: external\n  dump_cmd: touch {root}/ran; exit 1\n"
        f"  storages: [{{storage: local, backup_dir: {root}/backups}}]\n"
    )
    job.chmod(0o644)
    return job


def _main(root: Path, jobs: str) -> Path:
    (root / "etc").mkdir()
    main = root / "etc" / "corral.conf"
    main.write_text(f"main:\n  general_path_to_all_tmp_dir: {root}/tmp\n  log_file_name: {root}/corral.log\n"
                    f"jobs: {jobs}\n")
    main.chmod(0o600)
    return main


def _users_link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.chown(link.parent, NOBODY, NOBODY)
    link.symlink_to(target)
    os.lchown(link, NOBODY, NOBODY)


@pytest.mark.parametrize("command", ["check", "start"])
def test_an_include_through_another_users_link_is_refused(tmp_path: Path, command: str) -> None:
    main = _main(tmp_path, f"!include [{tmp_path}/sites/*/backup.conf]")
    link = tmp_path / "sites" / "evil" / "backup.conf"
    _users_link(link, _hidden_job(tmp_path))
    done = corral(command, "-c", str(main))
    assert done.returncode == (2 if command == "check" else 1), done.stderr
    (line,) = refusals(done)
    assert f"`{link}` " in line and "`nobody` (uid 65534)" in line, line
    assert not (tmp_path / "ran").exists()


def test_a_secret_through_another_users_link_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "hidden-secret"
    secret.write_text("root's password\n")
    secret.chmod(0o600)
    link = tmp_path / "site" / "pw"
    _users_link(link, secret)
    main = _main(tmp_path, "[]")
    main.write_text(main.read_text().replace("main:\n", f"main:\n  server_name: !file {link}\n"))
    done = corral("check", "-c", str(main))
    assert done.returncode == 2, done.stderr
    assert f"`{link}`" in done.stderr and "`nobody` (uid 65534)" in done.stderr, done.stderr


def test_a_main_file_reached_through_another_users_folder_link_is_refused(tmp_path: Path) -> None:
    main = _main(tmp_path, "[]")
    link = tmp_path / "home" / "evil" / "etc"
    _users_link(link, main.parent)
    done = corral("check", "-c", str(link / "corral.conf"))
    assert done.returncode == 2, done.stderr
    assert "`nobody` (uid 65534)" in done.stderr, done.stderr


def test_roots_own_links_are_followed(tmp_path: Path) -> None:
    """`conf.d/site.conf -> ../available/site.conf`, as Debian's sites-enabled: the admin's links work."""
    main = _main(tmp_path, "!include [conf.d/*.conf]")
    (tmp_path / "etc" / "available").mkdir()
    job = tmp_path / "etc" / "available" / "site.conf"
    job.write_text(_hidden_job(tmp_path).read_text())
    (tmp_path / "etc" / "conf.d").mkdir()
    (tmp_path / "etc" / "conf.d" / "site.conf").symlink_to("../available/site.conf")
    done = corral("check", "-c", str(main))
    assert done.returncode == 0, done.stderr
