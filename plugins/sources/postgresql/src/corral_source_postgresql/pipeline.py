"""Run a dump program with its output streamed through a compressor into the archive file.

The bytes go from the dump program to the compressor through a pipe and never pass through Python; both
programs are started with ``run.popen`` so SIGTERM stops them, and both exit codes are checked: a dump that
dies half way leaves a compressor that exits cleanly on a truncated stream.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from corral import RunContext
from corral_source_postgresql.codecs import Codec
from corral_source_postgresql.connection import first_error


@dataclass(frozen=True)
class Outcome:
    """``error`` is None when the archive is complete; ``warnings`` are the dump program's warning lines."""

    error: str | None
    warnings: tuple[str, ...] = ()


def dump_to_file(run: RunContext, command: list[str], env: dict[str, str], chosen: Codec, dest: Path) -> Outcome:
    """Write ``command``'s stdout, compressed, to ``dest`` (removed again when anything failed)."""
    warnings: tuple[str, ...] = ()
    try:
        with open(dest, "wb") as out, tempfile.TemporaryFile() as dump_err, tempfile.TemporaryFile() as pack_err:
            error = _pipe(run, command, env, chosen, out, dump_err, pack_err)
            dump_err.seek(0)
            warnings = tuple(" ".join(line.split()) for line in dump_err.read().decode(errors="replace").splitlines()
                             if "warning:" in line)
    except OSError as exc:
        error = f"cannot write `{dest}`: {exc.strerror}"
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    if error is not None:
        dest.unlink(missing_ok=True)
    return Outcome(error, warnings)


def _pipe(
    run: RunContext, command: list[str], env: dict[str, str], chosen: Codec, out: IO[bytes],
    dump_err: IO[bytes], pack_err: IO[bytes],
) -> str | None:
    if not chosen.argv:
        dump = _start(run, command, stdin=subprocess.DEVNULL, stdout=out, stderr=dump_err, env=env)
        return dump if isinstance(dump, str) else _finish(run, dump, command[0], dump_err)
    dump = _start(run, command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=dump_err, env=env)
    if isinstance(dump, str):
        return dump
    assert dump.stdout is not None
    try:
        pack = _start(run, list(chosen.argv), stdin=dump.stdout, stdout=out, stderr=pack_err)
    finally:
        dump.stdout.close()  # only the compressor holds the read end: the dump gets SIGPIPE if it dies
    if isinstance(pack, str):
        dump.kill()
        _finish(run, dump, command[0], dump_err)
        return pack
    pack_error = _finish(run, pack, chosen.argv[0], pack_err)
    dump_error = _finish(run, dump, command[0], dump_err)
    return pack_error or dump_error


def _start(run: RunContext, command: list[str], **kwargs: Any) -> subprocess.Popen[Any] | str:
    """The started process, or why it could not start."""
    try:
        return run.popen(command, **kwargs)
    except OSError as exc:
        return f"cannot start `{command[0]}`: {exc.strerror}"


def _finish(run: RunContext, process: subprocess.Popen[Any], name: str, stderr: IO[bytes]) -> str | None:
    try:
        code = process.wait()
    finally:
        run.forget(process)
    if code == 0:
        return None
    stderr.seek(0)
    return first_error(stderr.read(), f"{name} exited with code {code}")
