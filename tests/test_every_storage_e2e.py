"""One encrypted job on every storage kind at once (local, sftp, ftp, smb, nfs, webdav, s3, each a real server):
every copy is an age file, `corral verify --deep` proves each against its manifest, `corral drill` restores the
newest backup from each, and `corral restore` brings the site back from each."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from corral.testing.cli import corral, local_storage, write_main
from corral.testing.trees import snapshot
from corral_testservers import FTPServer, NFSServer, S3Server, SMBServer, SSHServer, WebDAVServer
from tests.test_remote_storages_e2e import ftp, sftp, smb, webdav

NOW = {"CORRAL_NOW": "2026-01-31T03:00:00"}


def _every(tmp_path: Path, prefix: str, sshd: SSHServer, ftp_server: FTPServer, smb_server: SMBServer,
           nfs_server: NFSServer, webdav_server: WebDAVServer, s3_server: S3Server) -> list[dict[str, Any]]:
    storages = [local_storage(tmp_path / "local"), sftp(sshd), ftp(ftp_server), smb(smb_server), webdav(webdav_server),
                {"storage": "nfs", "backup_dir": f"/{prefix}", "host": nfs_server.host, "port": nfs_server.port,
                 "export": nfs_server.export, "reserved_port": False},
                {"storage": "s3", "backup_dir": f"/{prefix}", "bucket": s3_server.bucket,
                 "endpoint_url": s3_server.endpoint_url, "region": s3_server.region,
                 "access_key_id": s3_server.access_key, "secret_access_key": s3_server.secret_key}]  # fmt: skip
    return storages


def test_encrypted_archives_verify_drill_and_restore_from_every_storage(
    tmp_path: Path, sites: Path, sshd_server: SSHServer, ftp_server: FTPServer, smb_server: SMBServer,
    nfs_server: NFSServer, webdav_server: WebDAVServer, s3_server: S3Server,
) -> None:  # fmt: skip
    key = tmp_path / "key.txt"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    public = subprocess.run(["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True).stdout.strip()
    job = f"every-{tmp_path.name[-12:]}"
    storages = _every(tmp_path, job, sshd_server, ftp_server, smb_server, nfs_server, webdav_server, s3_server)
    main = write_main(tmp_path, [{"job": job, "type": "desc_files", "sources": [{"target": [f"{sites}/*/"]}],
                                  "storages": storages, "encrypt": {"recipients": [public]}}])
    done = corral("start", "-v", "-c", str(main), env=NOW)
    assert done.returncode == 0, done.stderr
    kinds = [storage["storage"] for storage in storages]
    for kind in kinds:
        assert done.stderr.count(f"storage {kind}: stored `") == 2, (kind, done.stderr)
    local = sorted(p.name for p in (tmp_path / "local" / job).rglob("*.age"))
    assert local == ["alpha_2026-01-31_03-00-00.tar.age", "beta_2026-01-31_03-00-00.tar.age"], local

    verified = corral("verify", job, "--all", "--deep", "--identity", str(key), "-v", "-c", str(main))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    for kind in kinds:
        drilled = corral("drill", job, "--storage", kind, "--identity", str(key), "-c", str(main), env=NOW)
        assert drilled.returncode == 0, (kind, drilled.stdout, drilled.stderr)
        assert drilled.stdout.splitlines()[-1] == "DRILL PASSED: 2 of 2 target(s) restored as recorded", kind
        into = tmp_path / "restored" / kind
        restored = corral("restore", job, "-t", "beta", "--to", str(into), "-s", kind, "--identity", str(key),
                          "-c", str(main))
        assert restored.returncode == 0, (kind, restored.stderr)
        assert snapshot(into / "beta") == snapshot(sites / "beta"), kind
