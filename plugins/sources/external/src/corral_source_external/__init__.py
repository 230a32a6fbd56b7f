"""The ``external`` job type: a user's script makes the archive and reports it as JSON on stdout.

Everything the script prints is untrusted input: any bytes, any size, any JSON. Whatever it is, the job gets
one line naming what is wrong, never a traceback, and no name in the report can place a file outside the
job's folder on a storage (the core checks the names in :class:`corral.Archive`).

The program a ``dump_cmd`` starts with, when it is an absolute path, runs as root: like the configuration's own
files it must belong to root or the running user and be writable by nobody else, and so must the folders on the
way to it (a site's own ``backup.sh`` would otherwise make that site's user root).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from pydantic import Field

from corral import Archive, DumpError, JobConfig, JobOptions, RunContext, SourceSchema, hookimpl
from corral.archive import extension_problem, shown, target_problem
from corral.config.trust import untrusted

REQUIRED = ("full_path", "basename", "extension")
STDOUT_TAIL = 1024 * 1024  # the report is the last line; a script that streams its archive to stdout by mistake
STDERR_TAIL = 64 * 1024  # does not fill memory


class ExternalJob(JobOptions):
    dump_cmd: str = Field(
        description="command that makes the archive and prints its JSON description",
        json_schema_extra={"example": "/etc/corral/ext/dump.sh"},
    )


@hookimpl
def corral_source_schema() -> SourceSchema:
    # no `extensions`: the script chooses; rotation takes any valid extension in the target's own folder
    return SourceSchema(job=ExternalJob, source=None, group="external")


def _json_object(stdout: str) -> dict[str, Any] | None:
    """The whole output as one JSON object, or else its last line that is one."""
    text = stdout.strip()
    for candidate in [text, *reversed(text.splitlines())] if text else []:
        try:
            report = json.loads(candidate)
        except (ValueError, RecursionError):  # RecursionError: `[[[[...` nested deeper than the parser goes
            continue
        if isinstance(report, dict):
            return report
    return None


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", type(None): "null", str: "an empty string"}.get(
        type(value), "a number"
    )


def parse_report(stdout: str) -> dict[str, Any]:
    """The script's JSON (the whole output, or its last line when the script printed other things first),
    with the types checked: a DumpError naming the key otherwise."""
    report = _json_object(stdout)
    if report is None:
        raise DumpError("dump_cmd printed no JSON object on stdout (expected full_path, basename, extension, gzip)")
    for key in REQUIRED:
        if key not in report:
            raise DumpError(f"dump_cmd's JSON lacks a non-empty string `{key}`")
        if not isinstance(report[key], str) or not report[key]:
            raise DumpError(f"dump_cmd's JSON key `{key}` must be a non-empty string, not {_type_name(report[key])}")
    if not isinstance(report.get("gzip", False), bool):
        raise DumpError("dump_cmd's JSON key `gzip` must be true or false")
    return report


def archive_of(report: dict[str, Any], tmp_dir: Path) -> Archive:
    """The Archive a checked report describes; a DumpError naming the key whose value the core cannot use.

    Only a file in the work dir (``CORRAL_TMP_DIR``) is corral's to delete after upload; one outside it stays
    where the script put it, whatever it is (a report naming ``/etc/passwd`` or a log changed meanwhile loses
    nothing: no test of times or links can tell what the dump made from what it touched).
    """
    extension = report["extension"].lstrip(".")
    if report.get("gzip") and not extension.endswith("gz"):
        extension += ".gz"
    problem = extension_problem(extension)
    if problem:
        raise DumpError(f"dump_cmd's JSON key `extension`: {problem}")
    problem = target_problem(report["basename"], extension)
    if problem:
        raise DumpError(f"dump_cmd's JSON key `basename`: {problem}")
    path = Path(report["full_path"])
    if not path.is_absolute():
        path = tmp_dir / path
    if not _is_file(path):
        raise DumpError(f"dump_cmd reported {shown(str(path))}, which is not a file")
    return Archive(path=path, target=report["basename"], extension=extension, keep=not _inside(path, tmp_dir))


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long for the system, a folder it may not read
        return False


def _inside(path: Path, folder: Path) -> bool:
    """``path`` goes when ``folder`` (the job's work dir) is removed."""
    return Path(os.path.normpath(path)).is_relative_to(folder) or path.resolve().is_relative_to(folder.resolve())


def _tail(file: IO[bytes], size: int) -> str:
    file.seek(0, os.SEEK_END)
    file.seek(max(0, file.tell() - size))
    return file.read().decode(errors="replace")


def program_problem(dump_cmd: str) -> str | None:
    """Why another user could change the program ``dump_cmd`` starts with (an absolute path), or None."""
    try:
        words = shlex.split(dump_cmd, comments=True)
    except ValueError:
        return None
    if not words or not words[0].startswith("/"):
        return None
    try:
        fd = os.open(words[0], os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError:
        return None  # the shell says why it cannot run it
    try:
        return untrusted(fd, words[0]) if stat.S_ISREG(os.fstat(fd).st_mode) else None
    finally:
        os.close(fd)


@hookimpl
def corral_source_dump(job: JobConfig, tmp_dir: Path, run: RunContext) -> Iterator[Archive]:
    assert isinstance(job.options, ExternalJob)
    problem = program_problem(job.options.dump_cmd)
    if problem:
        raise DumpError(f"dump_cmd: {problem}")
    shell = shutil.which("bash") or "/bin/sh"
    env = {**os.environ, "CORRAL_TMP_DIR": str(tmp_dir), "CORRAL_JOB": job.name}
    with tempfile.TemporaryFile(dir=tmp_dir) as out, tempfile.TemporaryFile(dir=tmp_dir) as err:
        done = run.run([shell, "-c", job.options.dump_cmd], cwd=tmp_dir, env=env, stdout=out, stderr=err)
        stdout, stderr = _tail(out, STDOUT_TAIL), _tail(err, STDERR_TAIL).strip()
    if done.returncode != 0:
        last = stderr.splitlines()[-1] if stderr else "no error output"
        raise DumpError(f"dump_cmd exited with code {done.returncode}: {shown(last, 300)[1:-1]}")
    yield archive_of(parse_report(stdout), tmp_dir)


@hookimpl
def corral_source_doctor(job: JobConfig) -> list[Any]:
    """``corral doctor``: the program ``dump_cmd`` starts (see :mod:`corral_source_external.doctor`)."""
    from corral_source_external.doctor import check

    assert isinstance(job.options, ExternalJob)
    return check(job.options)
