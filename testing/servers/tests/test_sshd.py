import subprocess

import fsspec

from corral_testservers import SSHServer


def test_sftp_write_read_with_key_and_password(sshd_server: SSHServer) -> None:
    fs = fsspec.filesystem("sftp", **sshd_server.storage_options(), skip_instance_cache=True)
    target = f"{sshd_server.home}/bk/a.bin"
    fs.makedirs(f"{sshd_server.home}/bk", exist_ok=True)
    fs.pipe(target, b"y" * 100_000)
    options = sshd_server.storage_options(use_password=True)
    by_password = fsspec.filesystem("sftp", **options, skip_instance_cache=True)
    assert by_password.cat(target) == b"y" * 100_000
    # the OpenSSH client with the key and the known_hosts file (strict host key checking)
    out = subprocess.run(
        ["ssh", *sshd_server.ssh_options(), f"{sshd_server.user}@{sshd_server.host}", "wc", "-c", target],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    assert out.stdout.split()[0] == "100000"
    fs.rm(f"{sshd_server.home}/bk", recursive=True)
    assert not (sshd_server.home / "bk").exists()
