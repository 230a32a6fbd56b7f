"""Running GNU tar with a streaming compressor: the bytes never pass through Python."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from corral import DumpError, RunContext

if TYPE_CHECKING:
    from corral_source_files.tally import Tally


@dataclass(frozen=True)
class Codec:
    name: str
    extension: str
    program: str | None  # for tar --use-compress-program; None means no compression


def codec(name: str) -> Codec:
    if name == "zstd":
        return Codec("zstd", "tar.zst", "zstd -T0 -3")
    if name == "gzip":
        return Codec("gzip", "tar.gz", "pigz" if shutil.which("pigz") else "gzip")
    return Codec("none", "tar", None)


def stream(
    run: RunContext, work_dir: Path, target: Path, excludes: list[str], chosen: Codec, extra: tuple[str, ...] = (),
    tally: Tally | None = None,
) -> tuple[BinaryIO, Callable[[], tuple[str, ...]]]:
    """Archive ``target`` (members named from its folder) to a pipe: returns the stream of the archive's bytes
    and ``finish()``, which waits for tar once the stream is read and returns its warnings (exit 1: files
    changed), or raises DumpError. ``extra``: more tar options (``--listed-incremental=SNAR``). ``tally``:
    counts the members tar lists as it archives them (its verbose index, read from a pipe)."""
    fd, name = tempfile.mkstemp(prefix=".exclude-", dir=work_dir)
    exclude_file = Path(name)
    with os.fdopen(fd, "w") as listing:  # the descriptor mkstemp opened, not the name again
        listing.write("".join(f"{member}\n" for member in excludes))
    errors = tempfile.TemporaryFile(dir=work_dir)  # noqa: SIM115 (closed by finish)
    command = ["tar", "--create", "--file", "-", "--directory", str(target.parent), "--no-wildcards", "--anchored",
               f"--exclude-from={exclude_file}", *extra]
    if chosen.program:
        command.append(f"--use-compress-program={chosen.program}")
    index = tally.open() if tally is not None else None
    if index is not None:  # the index names each member with its type and size; tar's own notes stay quiet
        command += ["-vv", f"--index-file=/dev/fd/{index}", "--warning=no-new-directory",
                    "--warning=no-rename-directory"]
    command += ["--", target.name]
    try:
        process = run.popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors,
                            pass_fds=(index,) if index is not None else ())
    finally:
        if tally is not None:
            tally.started()
    reader = cast(BinaryIO, process.stdout)

    def finish() -> tuple[str, ...]:
        reader.close()  # read to the end by the core, or given up
        code = process.wait()
        run.forget(process)
        if tally is not None:
            tally.close()
        exclude_file.unlink(missing_ok=True)
        errors.seek(0)
        lines = tuple(line for line in errors.read().decode(errors="replace").splitlines() if line.strip())
        errors.close()
        if code in (0, 1):  # 1: "file changed as we read it", "file removed before we read it"
            return lines
        raise DumpError(f"tar failed for `{target}`: {_cause(lines) or f'tar exited with code {code}'}")

    return reader, finish


# tar's last words repeat that something failed; the line before them says what ("Cannot write: No space...")
def _cause(lines: tuple[str, ...] | list[str]) -> str | None:
    """The line that says what went wrong: the last one before tar's closing words, or None without output."""
    causes = [line for line in lines if not _CLOSING.search(line)] or list(lines)
    return causes[-1] if causes else None


_CLOSING = re.compile(r"^tar: (Error is not recoverable: exiting now|Exiting with failure status due to previous "
                      r"errors)$")


def extract(run: RunContext, archive: Path, dest: Path, incremental: bool) -> None:
    """Extract with plain tar (compression detected by tar); ``incremental`` applies a level (``-G``)."""
    command = ["tar", "--extract", "--file", str(archive), "--directory", str(dest)]
    if incremental:
        command.append("--listed-incremental=/dev/null")
    done = run.run(command)
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise DumpError(f"tar could not extract `{archive.name}`: {_cause(lines) or done.returncode}")


@functools.cache
def version() -> str:
    """GNU tar's version (``1.34``), asked once per process; ``unknown`` when it does not say."""
    done = subprocess.run(["tar", "--version"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    words = done.stdout.splitlines()[0].split() if done.stdout.strip() else []
    return words[-1] if words else "unknown"
