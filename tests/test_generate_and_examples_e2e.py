"""Templates from `corral generate` and the shipped examples load and run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from corral.plugins import installed_names
from corral.testing.cli import corral

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize("job_type", installed_names("source"))
def test_every_installed_type_generates_a_template_that_validates(tmp_path: Path, job_type: str) -> None:
    conf_d = tmp_path / "conf.d"
    done = corral("generate", "--storage", "local", "--type", job_type, "--path", str(conf_d / f"{job_type}.conf"))
    assert done.returncode == 0, done.stderr
    text = (conf_d / f"{job_type}.conf").read_text()
    assert f"- job: PROJECT-{job_type}\n  type: {job_type}\n" in text
    main = tmp_path / "corral.conf"
    main.write_text(f"main:\n  general_path_to_all_tmp_dir: {tmp_path}/tmp\njobs: !include [conf.d/*.conf]\n")
    checked = corral("check", "-c", str(main))
    assert checked.returncode == 0, checked.stderr
    again = corral("generate", "--storage", "local", "--type", job_type, "--path", str(conf_d / f"{job_type}.conf"))
    assert again.returncode == 2 and "exists" in again.stderr


def test_article_syntax_for_several_storages(tmp_path: Path) -> None:
    done = corral("generate", "--storage", "local", "local", "--type", "external")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("- storage: local") == 2


def test_quickstart_example_backs_up_etc(tmp_path: Path) -> None:
    example = tmp_path / "quickstart"
    shutil.copytree(ROOT / "examples" / "quickstart", example)
    for conf in example.rglob("*.conf"):
        conf.write_text(conf.read_text().replace("/tmp/corral-quickstart", str(tmp_path / "qs")))
    assert corral("check", "-c", str(example / "corral.conf")).returncode == 0
    done = corral("start", "-c", str(example / "corral.conf"))
    assert done.returncode == 0, done.stderr
    (archive,) = (tmp_path / "qs" / "backups" / "etc-files" / "etc").glob("etc_*.tar.zst")
    members = subprocess.run(["tar", "-tf", str(archive)], capture_output=True, text=True, check=True).stdout
    assert "etc/hostname\n" in members and "etc/shadow-\n" not in members
    listed = corral("list", "-c", str(example / "corral.conf"))
    assert "etc-files on local" in listed.stdout and archive.name in listed.stdout
