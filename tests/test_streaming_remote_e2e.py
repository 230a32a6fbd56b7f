"""One desc_files job streamed to local, S3 and FTP at once by the real `corral start`: no copy of the archive in
tmp_dir, the same bytes on every storage (an S3 multipart upload of several parts, one FTP STOR under a temp
name renamed at the end), and `sha256sum -c` on each manifest proves them."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import botocore.session

from corral.testing.cli import corral, local_storage, write_main
from corral_testservers import FTPServer, S3Server

NOW = "2026-03-01T03:00:00"
NAME = "site_2026-03-01_03-00-00.tar"


def _s3(server: S3Server, prefix: str) -> dict[str, Any]:
    return {"storage": "s3", "backup_dir": f"/{prefix}", "bucket": server.bucket, "endpoint_url": server.endpoint_url,
            "region": server.region, "access_key_id": server.access_key, "secret_access_key": server.secret_key,
            "part_size": "5M"}  # fmt: skip


def _ftp(server: FTPServer, folder: str) -> dict[str, Any]:
    return {"storage": "ftp", "backup_dir": f"/{folder}", "host": server.host, "port": server.port,
            "user": server.user, "password": server.password}  # fmt: skip


def test_one_stream_reaches_local_s3_and_ftp_at_once(tmp_path: Path, s3_server: S3Server,
                                                     ftp_server: FTPServer) -> None:  # fmt: skip
    site = tmp_path / "www" / "site"
    site.mkdir(parents=True)
    (site / "blob.bin").write_bytes(os.urandom(12_000_000))  # no compression: 12 MB, three 5 MiB parts on S3
    folder = f"stream-{os.getpid()}"
    storages = [local_storage(tmp_path / "local"), _s3(s3_server, folder), _ftp(ftp_server, folder)]
    main = write_main(tmp_path, [{"job": "web", "type": "desc_files", "sources": [{"target": [str(site)]}],
                                  "storages": storages}])  # fmt: skip
    done = corral("start", "-v", "-c", str(main), env={"CORRAL_NOW": NOW})
    assert done.returncode == 0, done.stderr

    local = (tmp_path / "local" / "web" / "site" / NAME).read_bytes()
    client = botocore.session.get_session().create_client("s3", **s3_server.client_kwargs())
    key = f"{folder}/web/site/{NAME}"
    stored = client.get_object(Bucket=s3_server.bucket, Key=key)
    assert stored["Body"].read() == local
    assert stored["ETag"].strip('"').endswith("-3"), stored["ETag"]  # a multipart upload of 3 parts
    assert client.list_multipart_uploads(Bucket=s3_server.bucket, Prefix=folder).get("Uploads", []) == []
    ftp_folder = ftp_server.root / folder / "web"
    assert (ftp_folder / "site" / NAME).read_bytes() == local
    assert [p.name for p in ftp_folder.rglob("*")
            if p.is_file() and not {".manifests", ".runs"} & set(p.parts)] == [NAME]

    log = (tmp_path / "log" / "corral.log").read_text()
    assert "target site: archive made and streamed (" in log
    assert "written to a temp file" not in log  # every storage took the stream
    for storage in ("local", "s3", "ftp"):
        assert f"[web] storage {storage}: stored `" in log
    assert log.count(", streamed)") == 3
    record = json.loads(next((ftp_folder / ".manifests").glob("*.json")).read_text())
    assert json.dumps(record).count(hashlib.sha256(local).hexdigest()) == 1
    manifest = next((ftp_folder / ".manifests").glob("*.sha256"))
    checked = subprocess.run(["sha256sum", "-c", str(manifest)], cwd=ftp_folder, capture_output=True, text=True)
    assert checked.returncode == 0 and checked.stdout.strip() == f"site/{NAME}: OK", checked.stdout
    assert not [p for p in (tmp_path / "tmp").rglob("*") if p.is_file() and "corral.lock" not in p.name]
