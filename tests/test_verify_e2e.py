"""Checksum manifests and `corral verify`, through the real CLI against a local folder and the real SFTP and S3
servers: a clean run verifies, and a flipped byte, a truncated or deleted archive, an archive no manifest lists
and one that does not decode are each named."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import botocore.session
from prometheus_client.parser import text_string_to_metric_families

from corral.testing.cli import corral, local_storage, write_main
from corral_testservers import S3Server, SSHServer

NOW = "2026-01-31T03:00:00"
STAMP = "2026-01-31_03-00-00"


def files_job(name: str, target: str, storages: list[dict[str, Any]]) -> dict[str, Any]:
    return {"job": name, "type": "desc_files", "sources": [{"target": [target], "gzip": True}], "storages": storages}


def metrics(path: Path) -> dict[tuple[str, str], float]:
    """``{(metric, storage): value}`` of the verify series in a textfile."""
    return {(s.name, s.labels["storage"]): s.value for f in text_string_to_metric_families(path.read_text())
            for s in f.samples if s.name.startswith("corral_verify_")}  # fmt: skip


def bad_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stdout.splitlines() if line.split(" ", 1)[0].isupper()]


def test_local_manifest_proves_the_copy_and_verify_names_each_damage(tmp_path: Path, sites: Path) -> None:
    prom = tmp_path / "corral.prom"
    main = write_main(tmp_path, [files_job("sites", f"{sites}/*/", [local_storage(tmp_path / "b")])],
                      prometheus_textfile=str(prom))
    assert corral("start", "-c", str(main), env={"CORRAL_NOW": NOW}).returncode == 0
    folder = tmp_path / "b" / "sites"
    # a standard tool proves the copy without corral
    checked = subprocess.run(["sha256sum", "-c", f".manifests/{STAMP}.sha256"], cwd=folder, capture_output=True,
                             text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.splitlines() == [f"alpha/alpha_{STAMP}.tar.gz: OK", f"beta/beta_{STAMP}.tar.gz: OK"]
    record = json.loads((folder / ".manifests" / f"{STAMP}.json").read_text())
    alpha = record["archives"][0]
    assert alpha["size"] == (folder / "alpha" / f"alpha_{STAMP}.tar.gz").stat().st_size
    assert (alpha["target"], alpha["source"], alpha["extension"], alpha["codec"]) == \
        ("alpha", "desc_files", "tar.gz", "gzip")
    listed = corral("list", "-c", str(main))
    assert "2 backup(s)" in listed.stdout and ".manifests" not in listed.stdout, listed.stdout

    clean = corral("verify", "--deep", "-v", "-c", str(main))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.count("ok job sites, storage local:") == 2, clean.stdout
    succeeded = metrics(prom)
    assert succeeded[("corral_verify_success", "local")] == 1
    proven = succeeded[("corral_verify_last_success_timestamp_seconds", "local")]

    with open(folder / "alpha" / f"alpha_{STAMP}.tar.gz", "r+b") as archive:
        archive.truncate(100)
    (folder / "beta" / f"beta_{STAMP}.tar.gz").unlink()
    stray = folder / "alpha" / "alpha_2026-01-30_03-00-00.tar.gz"  # named like an archive, in no manifest
    stray.write_bytes(b"not in any manifest")
    damaged = corral("verify", "--all", "-c", str(main))
    assert damaged.returncode == 1, damaged.stdout + damaged.stderr
    assert sorted(bad_lines(damaged)) == [
        f"MISMATCH job sites, storage local: `{folder}/alpha/alpha_{STAMP}.tar.gz`: 100 bytes stored, its manifest "
        f"says {alpha['size']}",
        f"MISSING job sites, storage local: `{folder}/beta/beta_{STAMP}.tar.gz`: listed in its manifest, not on the "
        "storage",
        f"UNVERIFIABLE job sites, storage local: `{stray}`: no manifest lists it",
    ], damaged.stdout
    failed = metrics(prom)
    assert failed[("corral_verify_success", "local")] == 0
    assert failed[("corral_verify_last_success_timestamp_seconds", "local")] == proven  # kept: alerting on its age


def test_a_flipped_byte_on_sftp_and_s3_is_named_without_secrets(
    tmp_path: Path, sites: Path, sshd_server: SSHServer, s3_server: S3Server
) -> None:
    job = f"flip-{os.getpid()}"
    sftp = {"storage": "sftp", "backup_dir": str(sshd_server.home / "backups"), "host": sshd_server.host,
            "port": sshd_server.port, "user": sshd_server.user, "path_to_key": str(sshd_server.key_path),
            "known_hosts": str(sshd_server.known_hosts)}  # fmt: skip
    s3 = {"storage": "s3", "backup_dir": "/backups", "bucket": s3_server.bucket, "endpoint_url": s3_server.endpoint_url,
          "region": s3_server.region, "access_key_id": s3_server.access_key,
          "secret_access_key": s3_server.secret_key}  # fmt: skip
    main = write_main(tmp_path, [files_job(job, f"{sites}/alpha", [sftp, s3])])
    assert corral("start", "-c", str(main), env={"CORRAL_NOW": NOW}).returncode == 0
    assert corral("verify", job, "-c", str(main)).returncode == 0
    name = f"alpha/alpha_{STAMP}.tar.gz"
    on_sftp = sshd_server.home / "backups" / job / name
    data = bytearray(on_sftp.read_bytes())
    data[len(data) // 2] ^= 0x01
    on_sftp.write_bytes(bytes(data))
    client = botocore.session.get_session().create_client("s3", **s3_server.client_kwargs())
    key = f"backups/{job}/{name}"
    body = bytearray(client.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read())
    body[10] ^= 0x80
    client.put_object(Bucket=s3_server.bucket, Key=key, Body=bytes(body))

    done = corral("verify", job, "-c", str(main))
    assert done.returncode == 1, done.stdout + done.stderr
    lines = bad_lines(done)
    assert len(lines) == 2, done.stdout
    assert lines[0].startswith(f"MISMATCH job {job}, storage sftp: `sftp://") and f"{on_sftp}`: sha256 " in lines[0]
    assert lines[1].startswith(f"MISMATCH job {job}, storage s3: `s3://") and f"/{key}`: sha256 " in lines[1]
    assert s3_server.secret_key not in done.stdout + done.stderr
    only = corral("verify", job, "--storage", "s3", "-c", str(main))
    assert [line.split(":")[0] for line in bad_lines(only)] == [f"MISMATCH job {job}, storage s3"], only.stdout


def test_retention_takes_deleted_archives_out_of_their_manifests(tmp_path: Path, sites: Path) -> None:
    storage = local_storage(tmp_path / "b", store={"days": 1})
    folder = tmp_path / "b" / "sites"
    both = write_main(tmp_path, [files_job("sites", f"{sites}/*/", [storage])])
    assert corral("start", "-c", str(both), env={"CORRAL_NOW": "2026-01-29T03:00:00"}).returncode == 0
    alpha = write_main(tmp_path, [files_job("sites", f"{sites}/alpha", [storage])])  # beta is no longer backed up
    for day in ("2026-01-30", "2026-01-31"):
        assert corral("start", "-c", str(alpha), env={"CORRAL_NOW": f"{day}T03:00:00"}).returncode == 0
    # the 31st's rotation deleted alpha of the 29th (beta's only copy stays): its line left the 29th's manifest
    first = (folder / ".manifests" / "2026-01-29_03-00-00.sha256").read_text()
    assert [line.split("  ")[1] for line in first.splitlines()] == ["beta/beta_2026-01-29_03-00-00.tar.gz"]
    assert not (folder / "alpha" / "alpha_2026-01-29_03-00-00.tar.gz").exists()
    for manifest in sorted((folder / ".manifests").glob("*.sha256")):
        checked = subprocess.run(["sha256sum", "-c", str(manifest)], cwd=folder, capture_output=True, check=False)
        assert checked.returncode == 0, checked
    done = corral("verify", "--all", "-c", str(alpha))
    assert done.returncode == 0 and "3 archive(s) ok, 0 bad, 0 unverifiable" in done.stdout, done.stdout


def test_deep_verify_catches_an_archive_whose_bytes_match_but_do_not_decode(tmp_path: Path) -> None:
    dump = tmp_path / "dump.sh"
    dump.write_text('#!/bin/sh\nprintf "not gzip at all" > "$CORRAL_TMP_DIR/app.tar.gz"\n'
                    'echo "{\\"full_path\\": \\"$CORRAL_TMP_DIR/app.tar.gz\\", \\"basename\\": \\"app\\", '
                    '\\"extension\\": \\"tar\\", \\"gzip\\": true}"\n')  # fmt: skip
    dump.chmod(0o755)
    job = {"job": "ext", "type": "external", "dump_cmd": str(dump), "storages": [local_storage(tmp_path / "b")]}
    main = write_main(tmp_path, [job])
    assert corral("start", "-c", str(main), env={"CORRAL_NOW": NOW}).returncode == 0
    shallow = corral("verify", "-c", str(main))
    assert shallow.returncode == 0, shallow.stdout  # its bytes are the bytes that were stored
    deep = corral("verify", "--deep", "-c", str(main))
    assert deep.returncode == 1
    [line] = bad_lines(deep)
    assert line.startswith(f"UNDECODABLE job ext, storage local: `{tmp_path}/b/ext/app/app_{STAMP}.tar.gz`: `tar -tf`")


def test_a_deeply_nested_json_in_a_manifests_place_is_not_a_manifest(tmp_path: Path, sites: Path) -> None:
    """JSON nested deeper than Python's stack where a manifest goes: left alone in one line, like any other file
    that is not corral's; verify still proves the archives by the `.sha256` file (it failed the whole storage
    with a RecursionError, and a run failed on `cannot write the manifest`)."""
    main = write_main(tmp_path, [files_job("sites", f"{sites}/*/", [local_storage(tmp_path / "b")])])
    assert corral("start", "-c", str(main), env={"CORRAL_NOW": NOW}).returncode == 0
    record = tmp_path / "b" / "sites" / ".manifests" / f"{STAMP}.json"
    record.write_text("[" * 200_000 + "]" * 200_000)
    done = corral("verify", "-c", str(main))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"`{record}` is not a manifest corral wrote (not JSON)" in done.stderr, done.stderr
    again = corral("start", "-c", str(main), env={"CORRAL_NOW": NOW})  # a drill at the same time
    assert again.returncode == 1 and "Traceback" not in again.stderr, again.stderr
    assert f"`{record}` is not a manifest corral wrote (not JSON): it is left alone" in again.stderr, again.stderr
    assert record.read_text().startswith("[[[")
