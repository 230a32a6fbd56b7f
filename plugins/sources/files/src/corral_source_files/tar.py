"""Running GNU tar piped into the job's compressor: the bytes never pass through Python."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral import Codec, DumpError, Ended, Pipe, RunContext, compressed, full_disk_note
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


@dataclass(frozen=True)
class Member:
    """One member as GNU tar lists it: its name, its kind (``d`` a folder, ``h`` a hard link, ``l`` a symlink,
    ``-`` a file...) and, for a hard link, the member it links to."""

    name: str
    kind: str
    link: str = ""


def members(run: RunContext, archive: Path) -> Iterator[Member]:
    """The members of a local archive as GNU tar itself reads them (``tar -tv``, names C-quoted, owners as
    numbers): Python's tarfile reads another name from a GNU incremental header than tar extracts, so only tar's
    own listing says where tar will write. Raises DumpError when tar cannot list it."""
    command = ["tar", "--list", "--verbose", "--numeric-owner", "--quoting-style=c", "--file", str(archive)]
    process = run.popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                        env={**os.environ, "LC_ALL": "C"})
    try:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.rstrip(b"\n")
            start = line.find(b'"')
            if start < 1:
                raise DumpError(f"cannot read tar's listing of `{archive.name}`: {line[:200]!r}")
            name, end = _unquote(line, start)
            link = b""
            if line[end:].startswith(b' link to "'):
                link, _ = _unquote(line, end + len(b" link to "))
            yield Member(os.fsdecode(name), chr(line[0]), os.fsdecode(link))
        error = process.stderr.read().decode(errors="replace") if process.stderr else ""
        if process.wait() != 0:
            raise DumpError(f"tar cannot list `{archive.name}`: {_cause(error.strip().splitlines()) or 'failed'}")
    finally:
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        if process.poll() is None:
            process.kill()
        process.wait()
        run.forget(process)


_ESCAPES = {ord("a"): 7, ord("b"): 8, ord("f"): 12, ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("v"): 11}


def _unquote(line: bytes, start: int) -> tuple[bytes, int]:
    """The C-quoted string that opens at ``line[start]`` (a ``"``), undone, and the index just past its end."""
    out = bytearray()
    index = start + 1
    while index < len(line):
        char = line[index]
        if char == ord('"'):
            return bytes(out), index + 1
        if char == ord("\\") and index + 1 < len(line):
            following = line[index + 1]
            digits = re.match(rb"[0-7]{1,3}", line[index + 1:index + 4])
            if digits:
                out.append(int(digits.group(), 8) & 0xFF)
                index += 1 + len(digits.group())
                continue
            out.append(_ESCAPES.get(following, following))
            index += 2
            continue
        out.append(char)
        index += 1
    raise DumpError(f"cannot read tar's listing: an unterminated name in {line[:200]!r}")


@functools.cache
def version() -> str:
    """GNU tar's version (``1.34``), asked once per process; ``unknown`` when it does not say."""
    done = subprocess.run(["tar", "--version"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    words = done.stdout.splitlines()[0].split() if done.stdout.strip() else []
    return words[-1] if words else "unknown"
