"""The real `corral start` storing one job on local, sftp, ftp, smb and webdav at once, against real servers."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from corral.testing.cli import corral, local_storage, write_main
from corral.testing.trees import snapshot
from corral_testservers import FTPServer, SMBServer, SSHServer, WebDAVServer, start_sshd
from corral_testservers.faults import kill

NOW = "2026-01-31T03:00:00"
STAMP = "2026-01-31_03-00-00"


def sftp(server: SSHServer, **extra: Any) -> dict[str, Any]:
    return {"storage": "sftp", "backup_dir": str(server.home / "backups"), "host": server.host, "port": server.port,
            "user": server.user, "path_to_key": str(server.key_path), "known_hosts": str(server.known_hosts),
            **extra}  # fmt: skip


def ftp(server: FTPServer) -> dict[str, Any]:
    return {"storage": "ftp", "backup_dir": "/backups", "host": server.host, "port": server.port,
            "user": server.user, "password": server.password}  # fmt: skip


def smb(server: SMBServer) -> dict[str, Any]:
    return {"storage": "smb", "backup_dir": "/nxs/backups", "host": server.host, "port": server.port,
            "share": server.share, "user": server.user, "password": server.password}  # fmt: skip


def webdav(server: WebDAVServer) -> dict[str, Any]:
    return {"storage": "webdav", "backup_dir": "/backups", "url": server.url, "user": server.user,
            "password": server.password}  # fmt: skip


def files_job(name: str, target: str, storages: list[dict[str, Any]], **source: Any) -> dict[str, Any]:
    return {"job": name, "type": "desc_files", "sources": [{"target": [target], **source}], "storages": storages}


def extract(archive: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-xf", str(archive), "-C", str(dest)], check=True, timeout=120)
    return dest


def test_one_job_stored_on_five_storages_at_once(
    tmp_path: Path, sites: Path, sshd_server: SSHServer, ftp_server: FTPServer, smb_server: SMBServer,
    webdav_server: WebDAVServer,
) -> None:  # fmt: skip
    job = f"sites-{os.getpid()}"
    storages = [local_storage(tmp_path / "local"), sftp(sshd_server), ftp(ftp_server), smb(smb_server),
                webdav(webdav_server)]  # fmt: skip
    main = write_main(tmp_path, [files_job(job, f"{sites}/*/", storages, gzip=True)])
    done = corral("start", "-v", "-c", str(main), env={"CORRAL_NOW": NOW})
    assert done.returncode == 0, done.stderr
    copies = {
        "local": tmp_path / "local" / job,
        "sftp": sshd_server.home / "backups" / job,
        "ftp": ftp_server.root / "backups" / job,
        "smb": smb_server.share_path / "nxs" / "backups" / job,
        "webdav": webdav_server.root / "backups" / job,
    }
    for storage, folder in copies.items():
        for site in ("alpha", "beta"):
            archive = folder / site / f"{site}_{STAMP}.tar.gz"
            restored = extract(archive, tmp_path / "restored" / storage / site) / site
            assert snapshot(restored) == snapshot(sites / site), f"{storage}: {site} differs"
        ours = (".manifests", ".runs")  # checksums and run records beside the archives
        assert sorted(p.name for p in folder.rglob("*") if p.is_file() and p.parent.name not in ours) == [
            f"alpha_{STAMP}.tar.gz", f"beta_{STAMP}.tar.gz"
        ], f"{storage}: stray files"
        assert sorted(p.name for p in (folder / ".manifests").iterdir()) == [f"{STAMP}.json", f"{STAMP}.sha256"]
    for storage in copies:
        assert f"storage {storage}: stored" in done.stderr
    # `corral list` sees both backups on every storage; `corral restore` brings a site back from each of them
    listed = corral("list", job, "-c", str(main))
    assert listed.returncode == 0, listed.stderr
    for storage in copies:
        assert f"{job} on {storage} (" in listed.stdout and "): 2 backup(s)" in listed.stdout, listed.stdout
    assert listed.stdout.count(": 2 backup(s)") == 5, listed.stdout
    for storage in ("sftp", "ftp", "smb", "webdav"):
        into = tmp_path / "corral-restore" / storage
        restored = corral("restore", job, "-t", "beta", "-d", "2026-01-31", "--to", str(into), "-s", storage,
                          "-c", str(main))
        assert restored.returncode == 0, restored.stderr
        assert snapshot(into / "beta") == snapshot(sites / "beta"), storage


def test_wrong_passwords_fail_each_storage_alone_in_one_line_without_secrets(
    tmp_path: Path, sites: Path, sshd_server: SSHServer, ftp_server: FTPServer, smb_server: SMBServer,
    webdav_server: WebDAVServer,
) -> None:  # fmt: skip
    wrong = "wrong-Passw0rd-that-must-never-show"
    storages = [
        local_storage(tmp_path / "local"),
        sftp(sshd_server, path_to_key=None, password=wrong),
        {**ftp(ftp_server), "password": wrong},
        {**smb(smb_server), "password": wrong},
        {**webdav(webdav_server), "password": wrong},
    ]
    main = write_main(tmp_path, [files_job("sites", f"{sites}/alpha", storages)])
    done = corral("start", "-c", str(main), env={"CORRAL_NOW": NOW})
    assert done.returncode == 1
    log = (tmp_path / "log" / "corral.log").read_text()
    for text in (done.stdout, done.stderr, log):
        assert wrong not in text
    for storage in ("sftp", "ftp", "smb", "webdav"):
        errors = [line for line in done.stderr.splitlines() if f"storage {storage}: cannot connect:" in line]
        assert len(errors) == 1 and "authentication failed" in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    assert len(list((tmp_path / "local").rglob("*.tar"))) == 1, "the local storage still got its copy"


def test_a_server_killed_mid_upload_fails_alone_and_leaves_nothing_under_the_final_name(
    tmp_path: Path, server_tmp_path: Path, ftp_server: FTPServer, smb_server: SMBServer,
    webdav_server: WebDAVServer,
) -> None:  # fmt: skip
    big = tmp_path / "data" / "big"
    big.mkdir(parents=True)
    with open(big / "blob.bin", "wb") as out:  # 256 MiB archive, cheap to make: tar stores the holes as zeros
        out.truncate(256 * 2**20)
    (big / "note.txt").write_text("the small file after the big one\n")
    job = f"big-{os.getpid()}"
    with start_sshd(server_tmp_path) as doomed:
        storages = [local_storage(tmp_path / "local"), sftp(doomed, timeout=5, retries=1), ftp(ftp_server),
                    smb(smb_server), webdav(webdav_server)]  # fmt: skip
        main = write_main(tmp_path, [files_job(job, str(big), storages)])
        killed: list[int] = []

        def kill_when_uploading() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                partials = list((doomed.home / "backups").rglob(".*.partial-*"))
                if partials and partials[0].stat().st_size > 16 * 2**20:
                    killed.extend(kill(doomed.port))
                    return
                time.sleep(0.01)

        killer = threading.Thread(target=kill_when_uploading)
        killer.start()
        started = time.monotonic()
        done = corral("start", "-c", str(main), env={"CORRAL_NOW": NOW})
        elapsed = time.monotonic() - started
        killer.join()
        assert killed, "the SFTP server was never seen receiving the archive"
        assert done.returncode == 1, done.stderr
        final = f"big_{STAMP}.tar"
        assert not (doomed.home / "backups" / job / "big" / final).exists()
    sftp_errors = [line for line in done.stderr.splitlines() if "storage sftp: target big: upload failed:" in line]
    assert len(sftp_errors) == 1, done.stderr
    assert "Traceback" not in done.stderr and "socket.send()" not in done.stderr, done.stderr
    assert elapsed < 120, f"the run took {elapsed:.0f} s"
    for folder in (tmp_path / "local" / job, ftp_server.root / "backups" / job,
                   smb_server.share_path / "nxs" / "backups" / job, webdav_server.root / "backups" / job):
        archive = folder / "big" / final
        assert archive.stat().st_size > 256 * 2**20, archive
        restored = extract(archive, tmp_path / "restored" / folder.parent.parent.name) / "big"
        assert (restored / "note.txt").read_text() == "the small file after the big one\n"
        assert (restored / "blob.bin").stat().st_size == 256 * 2**20


def test_generated_template_with_every_remote_storage_validates(tmp_path: Path) -> None:
    conf = tmp_path / "job.conf"
    done = corral("generate", "-t", "desc_files", "-s", "local", "scp", "sftp", "ftp", "smb", "webdav",
                  "-p", str(conf))  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = conf.read_text()
    assert "/root/.ssh/id_ed25519" in text and "/root/.ssh/known_hosts" in text
    ssh = tmp_path / "ssh"  # the key and known_hosts must exist: `corral check` looks for them
    ssh.mkdir()
    for name in ("id_ed25519", "known_hosts"):
        (ssh / name).write_text("x\n")
    conf.write_text(text.replace("/var/corral", str(tmp_path / "var")).replace("/root/.ssh", str(ssh)))
    main = tmp_path / "main.conf"
    main.write_text(f"main:\n  general_path_to_all_tmp_dir: {tmp_path / 'tmp'}\njobs: !include [job.conf]\n")
    checked = corral("check", "-c", str(main))
    assert checked.returncode == 0, checked.stderr + checked.stdout


def test_each_job_closes_its_ssh_connection_when_it_is_done(tmp_path: Path, sshd_server: SSHServer) -> None:
    """A run of many jobs does not pile up `ssh` children: the second job sees only its own."""
    counts = tmp_path / "counts"
    counts.mkdir()

    def job(name: str) -> dict[str, Any]:
        dump = (f"pgrep -P $PPID -x ssh | wc -l > {counts}/{name}; echo data > $CORRAL_TMP_DIR/{name}.txt; "
                f'echo "{{\\"full_path\\": \\"$CORRAL_TMP_DIR/{name}.txt\\", \\"basename\\": \\"{name}\\", '
                f'\\"extension\\": \\"txt\\", \\"gzip\\": false}}"')
        return {"job": f"{name}-{os.getpid()}", "type": "external", "dump_cmd": dump, "storages": [sftp(sshd_server)]}

    main = write_main(tmp_path, [job("first"), job("second")])
    done = corral("start", "-c", str(main), env={"CORRAL_NOW": NOW})
    assert done.returncode == 0, done.stderr
    assert (counts / "first").read_text().strip() == "1"
    assert (counts / "second").read_text().strip() == "1", "the first job's ssh connection was still open"
