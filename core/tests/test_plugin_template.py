"""The plugin template renders, installs as its own distribution, is discovered and runs a job."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest

from corral.testing.cli import corral, local_storage, write_main

ROOT = Path(__file__).parents[2]


@pytest.mark.slow
def test_template_installs_and_is_discovered(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "plugins/_template/new_plugin.py"), "hello", "--dest",
                    str(tmp_path / "hello")], check=True)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(site), str(tmp_path / "hello")], check=True)
    env = {"PYTHONPATH": str(site)}
    listed = corral("plugins", env=env)
    assert "source    hello            corral-source-hello 0.1.0" in listed.stdout
    data = tmp_path / "data.txt"
    data.write_text("hello\n")
    job = {"job": "h", "type": "hello", "sources": [{"target": [str(data)]}],
           "storages": [local_storage(tmp_path / "b")]}
    done = corral("start", "-c", str(write_main(tmp_path, [job])), env=env)
    assert done.returncode == 0, done.stderr
    (archive,) = list((tmp_path / "b").rglob("data.txt_*.gz"))
    assert gzip.decompress(archive.read_bytes()) == b"hello\n"
    template = corral("generate", "--type", "hello", "--storage", "local", env=env)
    assert "  - target:  # files to copy\n    - /etc/hosts" in template.stdout
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "hello")],
                           capture_output=True, text=True, env={**os.environ, **env}, cwd=tmp_path)
    assert tests.returncode == 0, tests.stdout + tests.stderr
