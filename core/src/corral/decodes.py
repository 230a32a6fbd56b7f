"""``corral verify --deep``: proving that a fetched archive decodes, with the standard tool for its type.

By the extension: a tar (plain, ``.gz``, ``.zst``) is listed with ``tar -t``; another compressed file is tested
with ``gzip -t`` or ``zstd -t``; a PostgreSQL custom-format dump (``.dump``) is listed with ``pg_restore -l``; a
Redis ``.rdb`` and a MariaDB ``.xbstream`` must start with their format's header. Any other extension gets its
codec's test only (a plain ``.sql`` none): a checksum already proves its bytes.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

CODECS = {"gz": ["gzip", "-t"], "zst": ["zstd", "-t", "-q"]}
DECOMPRESS = {"gz": ["gzip", "-dc"], "zst": ["zstd", "-dc", "-q"]}
HEADERS = {"rdb": b"REDIS", "xbstream": b"XBSTCK01"}


def decode_problem(path: Path, extension: str) -> str | None:
    """Why the archive at ``path`` does not decode as its ``extension`` says (one line), or None when it does."""
    parts = extension.split(".")
    codec = parts[-1] if parts[-1] in CODECS else ""
    kind = parts[-2] if codec and len(parts) > 1 else ("" if codec else parts[-1])
    if kind == "tar":
        return _tool(["tar", "-tf", str(path)])
    if kind == "dump":
        return _pg_restore_list(path, codec)
    if codec:
        problem = _tool([*CODECS[codec], str(path)])
        if problem:
            return problem
    if kind in HEADERS:
        head = _first_bytes(path, codec, len(HEADERS[kind]))
        if head != HEADERS[kind]:
            return f"does not start with the `{HEADERS[kind].decode()}` header of a .{kind} file"
    return None


def _tool(args: list[str], stdin: int | None = subprocess.DEVNULL) -> str | None:
    """Run a checking program; its first error line when it fails."""
    if shutil.which(args[0]) is None:
        return f"cannot check: `{args[0]}` is not installed"
    done = subprocess.run(args, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    if done.returncode == 0:
        return None
    lines = done.stderr.decode(errors="replace").strip().splitlines()
    return f"`{' '.join([args[0], *args[1:-1]])}` fails: {lines[0] if lines else f'exit {done.returncode}'}"


def _pg_restore_list(path: Path, codec: str) -> str | None:
    if not codec:
        return _tool(["pg_restore", "-l", str(path)])
    problem = _tool([*CODECS[codec], str(path)])
    if problem or shutil.which("pg_restore") is None:
        return problem or "cannot check: `pg_restore` is not installed"
    with subprocess.Popen([*DECOMPRESS[codec], str(path)], stdout=subprocess.PIPE) as unpack:
        assert unpack.stdout is not None
        problem = _tool(["pg_restore", "-l"], stdin=unpack.stdout.fileno())
        unpack.stdout.close()
    return problem


def _first_bytes(path: Path, codec: str, count: int) -> bytes:
    if codec == "gz":
        with gzip.open(path, "rb") as reader:
            return reader.read(count)
    if codec == "zst":
        with subprocess.Popen([*DECOMPRESS[codec], str(path)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL) as unpack:
            assert unpack.stdout is not None
            head = unpack.stdout.read(count)
            unpack.kill()
        return head
    with open(path, "rb") as reader:
        return reader.read(count)
