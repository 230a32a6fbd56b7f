"""A generated files template, with only `target` edited, backs up every folder of the site: uploads too."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from corral.testing.cli import corral


@pytest.mark.parametrize("job_type", ["desc_files", "inc_files"])
def test_a_generated_template_backs_up_the_uploads(tmp_path: Path, job_type: str) -> None:
    site = tmp_path / "www" / "shop"
    (site / "upload" / "iblock").mkdir(parents=True)
    (site / "upload" / "iblock" / "photo.jpg").write_bytes(b"\xff\xd8 a customer's photo")
    (site / "index.php").write_text("<?php\n")
    conf_d = tmp_path / "conf.d"
    done = corral("generate", "--type", job_type, "--storage", "local", "--path", str(conf_d / "sites.conf"))
    assert done.returncode == 0, done.stderr
    template = (conf_d / "sites.conf").read_text()
    assert "    - /var/www/*/\n" in template
    # what an admin edits: the target; the test also moves /var/corral into its own folder
    edited = template.replace("    - /var/www/*/\n", f"    - {tmp_path}/www/*/\n")
    (conf_d / "sites.conf").write_text(edited.replace("/var/corral/", f"{tmp_path}/corral/"))
    main = tmp_path / "corral.conf"
    main.write_text(f"main:\n  general_path_to_all_tmp_dir: {tmp_path}/tmp\n  log_file_name: {tmp_path}/corral.log\n"
                    "jobs: !include [conf.d/*.conf]\n")
    assert corral("check", "-c", str(main)).returncode == 0

    ran = corral("start", "-c", str(main), env={"CORRAL_NOW": "2026-03-01T03:00:00"})

    assert ran.returncode == 0, ran.stderr
    (archive,) = (p for p in (tmp_path / "corral").rglob("shop_*.tar*") if not p.name.endswith(".snar"))
    members = subprocess.run(["tar", "-tf", str(archive)], capture_output=True, text=True, check=True).stdout
    assert "shop/upload/iblock/photo.jpg\n" in members and "shop/index.php\n" in members, members
