"""The console reads the fleet the same way over SFTP (the real OpenSSH server) and S3 (SeaweedFS): records that a
real `corral start` wrote on both, one row per job, the archives of each storage on the job's page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from starlette.testclient import TestClient

from corral.config import load_config
from corral.testing.cli import corral
from corral_console.serve import build
from corral_testservers import S3Server, SSHServer


def sftp(server: SSHServer, backup_dir: str) -> dict[str, Any]:
    return {"storage": "sftp", "backup_dir": backup_dir, "host": server.host, "port": server.port,
            "user": server.user, "path_to_key": str(server.key_path), "known_hosts": str(server.known_hosts)}


def s3(server: S3Server, prefix: str) -> dict[str, Any]:
    return {"storage": "s3", "backup_dir": f"/{prefix}", "bucket": server.bucket, "endpoint_url": server.endpoint_url,
            "region": server.region, "access_key_id": server.access_key, "secret_access_key": server.secret_key}


def test_the_fleet_reads_the_same_over_sftp_and_s3(tmp_path: Path, sshd_server: SSHServer,
                                                    s3_server: S3Server) -> None:  # fmt: skip
    prefix = f"console-{tmp_path.name[-12:]}"
    www = tmp_path / "www"
    (www / "site").mkdir(parents=True)
    (www / "site" / "index.php").write_text("<?php echo 1;\n" * 200)
    backup_dir = f"/backups-{tmp_path.name[-12:]}"
    storages = [sftp(sshd_server, backup_dir=str(sshd_server.home / backup_dir.strip("/"))), s3(s3_server, prefix)]
    jobs = [{"job": "site", "type": "desc_files", "sources": [{"target": [f"{www}/*/"]}], "storages": storages},
            {"job": "lost", "type": "desc_files", "sources": [{"target": [f"{tmp_path}/gone/"]}],
             "storages": storages}]  # fmt: skip
    server = tmp_path / "server.conf"
    server.write_text(yaml.safe_dump({"main": {"server_name": "web-7", "coverage": False,
                                               "general_path_to_all_tmp_dir": str(tmp_path / "tmp")}, "jobs": jobs}))
    done = corral("start", "all", "-c", str(server))
    assert done.returncode == 1, done.stderr  # `lost` failed, `site` stored
    console_file = tmp_path / "console.conf"
    console_file.write_text(yaml.safe_dump({"main": {"general_path_to_all_tmp_dir": str(tmp_path / "ctmp")},
                                            "console": {"cache_dir": str(tmp_path / "cache"), "storages": storages}}))
    for wanted, label in ((["sftp"], "sftp"), (["s3"], "s3"), ([], "s3, sftp")):
        console, app, _, _ = build(load_config(console_file, partial=True), None, wanted)
        reading = console.index.read()
        assert reading.errors == [] and reading.listed == 2 * len(wanted or "ab") and reading.fetched == 2
        with TestClient(app, base_url="http://127.0.0.1:8640") as client:
            fleet = client.get("/").text
            job = client.get("/job/web-7/site").text
            failed = client.get("/job/web-7/lost").text
        console.index.close()
        rows = re.findall(r'<tr class="(\w+)">.*?>(lost|site)</a>.*?<td>([^<]*)</td>\s*</tr>', fleet, re.S)
        assert rows == [("failed", "lost", label), ("ok", "site", label)], label
        for storage in wanted or ["sftp", "s3"]:
            assert f"<h3>{storage}</h3>" in job
        assert re.search(r"site_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d\.tar", job)  # the archive, on each storage read
        assert "target matches no file or folder" in failed
