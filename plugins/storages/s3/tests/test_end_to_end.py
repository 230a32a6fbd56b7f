"""The real ``corral start``: one desc_files job stored on S3 (SeaweedFS), NFS (nfs-ganesha) and a local folder
at once; every copy is fetched the way an admin would and unpacked with tar."""

from __future__ import annotations

import filecmp
import os
import subprocess
from pathlib import Path
from typing import Any

import botocore.session

from corral.testing.cli import corral, local_storage, write_main
from corral_testservers import NFSServer, S3Server

NOW = {"CORRAL_NOW": "2026-01-31T03:00:00"}
ARCHIVE = "site_2026-01-31_03-00-00.tar.gz"


def make_site(root: Path) -> Path:
    site = root / "site"
    (site / "upload" / "2026").mkdir(parents=True)
    (site / "index.php").write_text("<?php echo 'hi';\n")
    (site / "upload" / "2026" / "photo.jpg").write_bytes(os.urandom(3 * 1024 * 1024))
    (site / "upload" / "большой.bin").write_bytes(os.urandom(9 * 1024 * 1024))  # a 3-part S3 upload (5 MiB parts)
    return site


def s3_storage(server: S3Server, **extra: Any) -> dict[str, Any]:
    return {
        "storage": "s3", "backup_dir": "/corral", "bucket": server.bucket, "endpoint_url": server.endpoint_url,
        "region": server.region, "access_key_id": server.access_key, "secret_access_key": server.secret_key,
        "part_size": "5M", "store": {"days": 3}, **extra,
    }  # fmt: skip


def nfs_storage(server: NFSServer) -> dict[str, Any]:
    return {"storage": "nfs", "backup_dir": "/corral", "host": server.host, "port": server.port,
            "export": server.export, "store": {"days": 3}}  # fmt: skip


def unpacked_matches(archive: Path, source: Path, into: Path) -> bool:
    into.mkdir(parents=True)
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(into)], check=True)
    compared = filecmp.dircmp(source, into / source.name)
    stack = [compared]
    while stack:
        level = stack.pop()
        if level.left_only or level.right_only or level.diff_files or level.funny_files:
            return False
        _, mismatch, errors = filecmp.cmpfiles(level.left, level.right, level.common_files, shallow=False)
        if mismatch or errors:
            return False
        stack.extend(level.subdirs.values())
    return True


def test_one_job_on_s3_nfs_and_local(tmp_path: Path, s3_server: S3Server, nfs_server: NFSServer) -> None:
    site = make_site(tmp_path / "www")
    job = {
        "job": "web", "type": "desc_files",
        "sources": [{"target": [str(site)], "gzip": True}],
        "storages": [local_storage(tmp_path / "local", store={"days": 3}), s3_storage(s3_server),
                     nfs_storage(nfs_server)],
    }  # fmt: skip
    main = write_main(tmp_path, [job])
    done = corral("start", "-c", str(main), env=NOW)
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "log" / "corral.log").read_text()
    for storage in ("local", "s3", "nfs"):
        assert f"storage {storage}: stored `" in log
    where = f"s3://{s3_server.bucket}@{s3_server.endpoint_url.split('://', 1)[1].rstrip('/')}"
    assert f"storage s3: stored `{where}/corral/web/site/{ARCHIVE}` (" in log  # the bucket and host are named

    copies = {"local": tmp_path / "local" / "web" / "site" / ARCHIVE}
    s3 = botocore.session.get_session().create_client("s3", **s3_server.client_kwargs())
    copies["s3"] = tmp_path / "from-s3.tar.gz"
    stored = s3.get_object(Bucket=s3_server.bucket, Key=f"corral/web/site/{ARCHIVE}")
    copies["s3"].write_bytes(stored["Body"].read())
    assert stored["ETag"].strip('"').endswith("-3")  # went up as a 3-part multipart upload
    copies["nfs"] = nfs_server.path / "corral" / "web" / "site" / ARCHIVE  # the server's own disk
    for storage, archive in copies.items():
        assert unpacked_matches(archive, site, tmp_path / f"restored-{storage}"), storage
    assert copies["s3"].read_bytes() == copies["local"].read_bytes() == copies["nfs"].read_bytes()

    listed = corral("list", "-c", str(main), "web")
    assert listed.returncode == 0, listed.stderr
    for storage, root in (("local", tmp_path / "local" / "web"), ("s3", f"{where}/corral/web"), ("nfs", "/corral/web")):
        assert f"web on {storage} ({root}): 1 backup(s)" in listed.stdout
    for storage in ("s3", "nfs"):  # corral's own restore fetches through the plugin's get
        into = tmp_path / f"corral-restore-{storage}"
        restored = corral("restore", "web", "--target", "site", "--date", "2026-01-31", "--to", str(into),
                          "--storage", storage, "-c", str(main))  # fmt: skip
        assert restored.returncode == 0, restored.stderr
        assert not filecmp.dircmp(site, into / "site").diff_files
        assert (into / "site" / "upload" / "большой.bin").read_bytes() == (site / "upload" / "большой.bin").read_bytes()


def test_wrong_s3_secret_fails_that_storage_only_and_never_shows_the_secret(
    tmp_path: Path, s3_server: S3Server, nfs_server: NFSServer
) -> None:
    site = make_site(tmp_path / "www")
    wrong = "WrongSecret-" + "q" * 24
    job = {
        "job": "web", "type": "desc_files", "sources": [{"target": [str(site)], "gzip": True}],
        "storages": [s3_storage(s3_server, secret_access_key=wrong), nfs_storage(nfs_server),
                     local_storage(tmp_path / "local")],
    }  # fmt: skip
    main = write_main(tmp_path, [job])
    done = corral("start", "-c", str(main), env=NOW)
    assert done.returncode == 1
    log = (tmp_path / "log" / "corral.log").read_text()
    assert (f"storage s3: cannot connect: S3 at {s3_server.endpoint_url} rejected the credentials "
            "(SignatureDoesNotMatch): check `access_key_id` and `secret_access_key`") in log  # fmt: skip
    assert wrong not in log + done.stderr + done.stdout
    assert (tmp_path / "local" / "web" / "site" / ARCHIVE).exists()
    assert (nfs_server.path / "corral" / "web" / "site" / ARCHIVE).exists()
