"""A `!file` that cannot be read says which file it looked for: a relative name is resolved from the including
file's folder, not from the folder corral was started in, and the message shows the result."""

from __future__ import annotations

from pathlib import Path

from corral.testing.cli import corral


def test_a_missing_relative_file_names_the_path_it_resolved_to(tmp_path: Path) -> None:
    etc = tmp_path / "etc" / "corral"
    etc.mkdir(parents=True)
    main = etc / "corral.conf"
    main.write_text(f"main:\n  general_path_to_all_tmp_dir: {tmp_path}/tmp\n  server_name: !file ../secrets/name\n"
                    "jobs: []\n")
    done = corral("check", "-c", "etc/corral/corral.conf", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (f"corral: error: etc/corral/corral.conf:3: `!file ../secrets/name` resolved to "
                           f"{tmp_path}/etc/secrets/name: cannot read: No such file or directory\n")
    (tmp_path / "etc" / "secrets").mkdir()
    (tmp_path / "etc" / "secrets" / "name").write_text("web1\n")
    assert corral("check", "-c", "etc/corral/corral.conf", cwd=tmp_path).returncode == 0
