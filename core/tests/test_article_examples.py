"""The article's configuration files load unchanged."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from corral.config import load_config, load_yaml
from corral.errors import ConfigError
from corral.plugins import installed_names

ARTICLE = Path(__file__).parents[2] / "docs" / "examples" / "article"


def test_main_file_includes_every_job_file() -> None:
    raw = load_yaml(ARTICLE / "nxs-backup.conf")
    assert raw["main"]["general_path_to_all_tmp_dir"] == "/var/nxs-backup"
    assert [job["job"] for job in raw["jobs"]] == [
        "Bitrix-desc-files", "Bitrix-inc-files", "Bitrix-mysql", "etcd-external"
    ]
    assert raw["jobs"][0]["sources"][0]["excludes"][-1] == "upload"
    assert raw["jobs"][0]["storages"][0]["store"] == {"days": 6, "weeks": 4, "month": 6}


def test_jobs_with_installed_plugins_validate(tmp_path: Path) -> None:
    shutil.copy(ARTICLE / "nxs-backup.conf", tmp_path)
    (tmp_path / "conf.d").mkdir()
    shutil.copy(ARTICLE / "conf.d" / "etcd-external.conf", tmp_path / "conf.d")
    config = load_config(tmp_path / "nxs-backup.conf")
    (job,) = config.jobs
    assert job.options.dump_cmd == "/etc/nxs-backup-ext/etcd.py"
    assert job.tmp_dir == Path("/var/nxs-backup/etcd-external")
    assert job.storages[0].store.months == 6
    assert config.main.admin_mail == ["project-tech@nixys.ru"]
    assert config.main.client_mail == []  # the article's [''] means nobody


def test_jobs_needing_missing_plugins_say_what_to_install() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(ARTICLE / "nxs-backup.conf")
    problems = caught.value.problems
    missing = [p for p in problems if "is not installed" in p]
    expected = {
        ("ftp", "corral-storage-ftp"), ("smb", "corral-storage-smb"), ("mysql", "corral-source-mysql"),
        ("inc_files", "corral-source-files"),
    }
    for name, distribution in expected:
        kind = "storage" if name in ("ftp", "smb") else "source"
        if name in installed_names(kind):
            continue
        assert any(f"`{name}` is not installed: install it with `pip install {distribution}`" in p for p in missing)
    assert all("conf.d/bitrix-" in p for p in problems)
    assert set(problems) == set(missing) or any("smb_port" in p for p in problems)
