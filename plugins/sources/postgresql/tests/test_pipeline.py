"""The dump pipeline itself, with real compressors: both exit codes count, so a partial stream is never complete."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from corral import RunContext
from corral_source_postgresql.codecs import Codec, codec
from corral_source_postgresql.pipeline import Outcome, open_dump


@pytest.fixture
def run(tmp_path: Path) -> RunContext:
    return RunContext(now=datetime(2026, 1, 31, 3), main=None, config_path=tmp_path / "corral.conf")


def script(text: str) -> list[str]:
    return ["bash", "-c", text]


def dump_to_file(run: RunContext, command: list[str], env: dict[str, str], chosen: Codec, dest: Path) -> Outcome:
    """What the core does with the stream: read it to the end (here into ``dest``), then finish it."""
    stream = open_dump(run, command, env, chosen, dest.parent)
    if isinstance(stream, str):
        return Outcome(stream)
    with open(dest, "wb") as out:
        while data := stream.reader.read(1 << 20):
            out.write(data)
    outcome = stream.finish()
    assert stream.finish() is outcome, "finish() may be called again (the core drops a failed stream)"
    return outcome


@pytest.mark.parametrize("name", ["zstd", "gzip", "none"])
def test_output_is_compressed_and_warnings_are_kept(run: RunContext, tmp_path: Path, name: str) -> None:
    chosen = codec(name)
    dest = tmp_path / f"out{chosen.suffix}"
    payload = os.urandom(300_000).hex()
    (tmp_path / "payload").write_text(payload)
    outcome = dump_to_file(run, script(f"cat {tmp_path / 'payload'}; echo 'pg_dump: warning: odd   thing' >&2"),
                           dict(os.environ), chosen, dest)
    assert outcome.error is None
    assert outcome.warnings == ("pg_dump: warning: odd thing",)
    reader = {"zstd": ["zstd", "-dc"], "gzip": ["gzip", "-dc"], "none": ["cat"]}[name]
    assert subprocess.run([*reader, str(dest)], capture_output=True, check=True).stdout.decode() == payload
    assert run._processes == set()


def test_dump_failing_half_way_drops_the_archive(run: RunContext, tmp_path: Path) -> None:
    """zstd exits 0 on the truncated stream; the dump's own exit code decides."""
    dest = tmp_path / "out.zst"
    command = script("head -c 1000000 /dev/urandom; echo 'pg_dump: error: connection lost' >&2; exit 1")
    outcome = dump_to_file(run, command, dict(os.environ), codec("zstd"), dest)
    assert outcome.error == "pg_dump: error: connection lost"


def test_compressor_failing_is_the_reported_cause(run: RunContext, tmp_path: Path) -> None:
    broken = Codec("zstd", ".zst", ("bash", "-c", "head -c 10 >/dev/null; echo 'zstd: no space left' >&2; exit 1"), ())
    dest = tmp_path / "out.zst"
    outcome = dump_to_file(run, script("yes | head -c 50000000"), dict(os.environ), broken, dest)
    assert outcome.error == "zstd: no space left"


def test_program_that_cannot_start_is_named(run: RunContext, tmp_path: Path) -> None:
    outcome = dump_to_file(run, ["/nonexistent/pg_dump"], dict(os.environ), codec("zstd"), tmp_path / "out.zst")
    assert outcome.error == "cannot start `/nonexistent/pg_dump`: No such file or directory"
    assert run._processes == set()
