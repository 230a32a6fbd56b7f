from __future__ import annotations

import os
from pathlib import Path

import pytest

from corral.testing.notify import http_sink  # noqa: F401  (a real HTTP server for notifier tests)


def script(path: Path, body: str) -> str:
    """An executable shell script for an external job's dump_cmd."""
    path.write_text("#!/bin/sh\nset -e\n" + body)
    path.chmod(0o755)
    return str(path)


def report_json(file_expr: str, basename: str) -> str:
    return (f"printf '{{\"full_path\": \"%s\", \"basename\": \"{basename}\", \"extension\": \"txt\", "
            f"\"gzip\": false}}\\n' \"{file_expr}\"\n")


@pytest.fixture
def sites(tmp_path: Path) -> Path:
    www = tmp_path / "www"
    for name in ("alpha", "beta"):
        (www / name).mkdir(parents=True)
        (www / name / "index.html").write_text(f"{name}\n" * 100)
        (www / name / "blob.bin").write_bytes(os.urandom(10_000))
    return www
