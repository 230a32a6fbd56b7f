"""Running GNU tar piped into the job's compressor: the bytes never pass through Python."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from corral import Codec, DumpError, Ended, Pipe, RunContext, compressed, decompressor, full_disk_note
from corral_source_files.tally import Tally


def stream(
    run: RunContext, work_dir: Path, target: Path, excludes: list[str], chosen: Codec, extra: tuple[str, ...] = (),
    facts: dict[str, Any] | None = None,
) -> tuple[Pipe, Callable[[Ended], tuple[str, ...]]]:
    """Archive ``target`` (members named from its folder) with tar piped into ``chosen``'s compressor
    (:func:`corral.compressed`): returns the pipe and its check, which gives tar's warnings (exit 1: files
    changed) or raises DumpError. ``extra``: more tar options (``--listed-incremental=SNAR``). ``facts``: filled,
    once tar succeeded, from the members tar listed as it archived them (its verbose index, read from a pipe)."""
    fd, name = tempfile.mkstemp(prefix=".exclude-", dir=work_dir)
    exclude_file = Path(name)
    with os.fdopen(fd, "w") as listing:  # the descriptor mkstemp opened, not the name again
        listing.write("".join(f"{member}\n" for member in excludes))
    command = ["tar", "--create", "--file", "-", "--directory", str(target.parent), "--no-wildcards", "--anchored",
               f"--exclude-from={exclude_file}", *extra]
    tally = Tally() if facts is not None else None
    index = tally.open() if tally is not None else None
    if index is not None:  # the index names each member with its type and size; tar's own notes stay quiet
        command += ["-vv", f"--index-file=/dev/fd/{index}", "--warning=no-new-directory",
                    "--warning=no-rename-directory"]
    command += ["--", target.name]
    try:
        pipe = compressed(run, command, chosen.argv, work_dir, pass_fds=(index,) if index is not None else ())
    except BaseException:
        exclude_file.unlink(missing_ok=True)
        raise
    finally:
        if tally is not None:
            tally.started()

    def check(ended: Ended) -> tuple[str, ...]:
        if tally is not None:
            tally.close()
        exclude_file.unlink(missing_ok=True)
        assert ended.producer is not None
        code = ended.producer.code
        lines = tuple(line for line in ended.producer.stderr if line.strip())
        if ended.compressor is not None and ended.compressor.failed:
            raise DumpError(f"compressing `{target}` failed: {ended.error}")
        if any(end is not None and end.stopped for end in (ended.producer, ended.compressor)):
            raise DumpError(ended.error)  # the stream was given up before its end
        if code not in (0, 1):  # 1: "file changed as we read it", "file removed before we read it": warnings
            raise DumpError(f"tar failed for `{target}`: {_cause(lines) or f'tar exited with code {code}'}")
        if facts is not None and tally is not None:
            facts.update(tally.facts())
        return lines

    return pipe, check


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
        raise DumpError(f"tar could not extract `{archive.name}` into `{dest}`: {_cause(lines) or done.returncode}"
                        f"{full_disk_note(dest)}")


def members(archive: Path) -> Iterator[tarfile.TarInfo]:
    """The members' headers of a local archive (decompressed by its extension's standard tool), read as a stream:
    names, types and link targets, to judge an incremental level before tar extracts it."""
    unpack = decompressor(archive.name)
    if unpack is None:
        with tarfile.open(archive, "r|") as listing:
            yield from listing
        return
    with open(archive, "rb") as raw:
        child = subprocess.Popen([*unpack], stdin=raw, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert child.stdout is not None
        with tarfile.open(fileobj=child.stdout, mode="r|") as listing:
            yield from listing
    finally:
        if child.stdout is not None:
            child.stdout.close()
        child.kill()
        child.wait()


@functools.cache
def version() -> str:
    """GNU tar's version (``1.34``), asked once per process; ``unknown`` when it does not say."""
    done = subprocess.run(["tar", "--version"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    words = done.stdout.splitlines()[0].split() if done.stdout.strip() else []
    return words[-1] if words else "unknown"
