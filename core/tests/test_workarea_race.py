"""The work area is created one folder at a time, each checked before anything is made below it.

`general_path_to_all_tmp_dir: /var/tmp/corral/site` when neither folder exists yet: between corral's check and
its `mkdir -p`, another user could create `/var/tmp/corral` as a link to any folder, and root made `site` there
(then refused the run). The race is simulated here by planting the link just before corral's first mkdir.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corral import workarea

NOBODY = 65534


def test_a_link_planted_between_the_check_and_the_mkdir_gets_nothing_created_through_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "var-tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    victim = tmp_path / "victim"
    victim.mkdir()
    real_mkdir = os.mkdir
    planted = []

    def racing_mkdir(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        if not planted:  # the attacker wins the race once
            link = shared / "corral"
            link.symlink_to(victim)
            os.lchown(link, NOBODY, NOBODY)
            planted.append(link)
        real_mkdir(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "mkdir", racing_mkdir)
    with pytest.raises(workarea.UnsafePath, match="belongs to uid 65534"):
        workarea.private_dir(shared / "corral" / "site", "work folder")
    assert planted and list(victim.iterdir()) == []
