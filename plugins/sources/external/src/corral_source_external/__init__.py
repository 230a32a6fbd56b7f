"""The ``external`` job type: a user's script makes the archive and reports it as JSON on stdout."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import Field

from corral import Archive, DumpError, JobOptions, RunContext, hookimpl
from corral.config.models import JobConfig, SourceSchema

REQUIRED = {"full_path": str, "basename": str, "extension": str}


class ExternalJob(JobOptions):
    dump_cmd: str = Field(
        description="command that makes the archive and prints its JSON description",
        json_schema_extra={"example": "/etc/corral/ext/dump.sh"},
    )


@hookimpl
def corral_source_schema() -> SourceSchema:
    return SourceSchema(job=ExternalJob, source=None, group="external")


def parse_report(stdout: str) -> dict[str, Any]:
    """The script's JSON: the whole output, or its last line when the script printed other things first."""
    text = stdout.strip()
    candidates = [text, *reversed(text.splitlines())] if text else []
    for candidate in candidates:
        try:
            report = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(report, dict):
            break
    else:
        raise DumpError("dump_cmd printed no JSON object on stdout (expected full_path, basename, extension, gzip)")
    for key, kind in REQUIRED.items():
        if not isinstance(report.get(key), kind) or not report[key]:
            raise DumpError(f"dump_cmd's JSON lacks a non-empty string `{key}`")
    if not isinstance(report.get("gzip", False), bool):
        raise DumpError("dump_cmd's JSON key `gzip` must be true or false")
    return report


@hookimpl
def corral_source_dump(job: JobConfig, tmp_dir: Path, run: RunContext) -> Iterator[Archive]:
    assert isinstance(job.options, ExternalJob)
    shell = shutil.which("bash") or "/bin/sh"
    env = {**os.environ, "CORRAL_TMP_DIR": str(tmp_dir), "CORRAL_JOB": job.name}
    done = run.run([shell, "-c", job.options.dump_cmd], cwd=tmp_dir, env=env)
    stderr = done.stderr.decode(errors="replace").strip()
    if done.returncode != 0:
        last = stderr.splitlines()[-1] if stderr else "no error output"
        raise DumpError(f"dump_cmd exited with code {done.returncode}: {last}")
    report = parse_report(done.stdout.decode(errors="replace"))
    path = Path(report["full_path"])
    if not path.is_absolute():
        path = tmp_dir / path
    if not path.is_file():
        raise DumpError(f"dump_cmd reported `{path}`, which is not a file")
    extension = report["extension"].lstrip(".")
    if report.get("gzip") and not extension.endswith("gz"):
        extension += ".gz"
    try:
        archive = Archive(path=path, target=report["basename"], extension=extension)
    except ValueError as exc:
        raise DumpError(f"dump_cmd's basename: {exc}") from None
    yield archive
