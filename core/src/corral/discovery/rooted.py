"""Paths a server's configuration names, looked up under the root of a copy or mount of its filesystem.

With ``--root R`` the configuration still says ``/etc/nginx/sites-enabled/blog``; the file is
``R/etc/nginx/sites-enabled/blog``, and a symbolic link in it pointing at ``/etc/nginx/sites-available/blog``
means ``R/etc/nginx/sites-available/blog``, never this machine's file. :func:`resolve` follows links that way
(``..`` stops at R), :func:`expand` expands a glob the same way, :func:`read_text` reads a regular file with a
size cap.
"""

from __future__ import annotations

import errno
import fnmatch
import glob
import os
import posixpath
import stat
from pathlib import Path

MAX_BYTES = 1024 * 1024
"""The largest configuration file read: a bigger one is reported, not read."""

_MAX_LINKS = 40  # as the kernel's ELOOP limit


def config_path(path: str, base: str) -> str:
    """``path`` as the server sees it: absolute, relative ones taken from ``base``, ``.``/``..`` folded."""
    return posixpath.normpath(posixpath.join(base, path))


def lexical(root: Path, path: str) -> Path:
    """The on-disk place of the absolute ``path`` under ``root``, links not followed (a document root)."""
    parts = [part for part in posixpath.normpath("/" + path).split("/") if part]
    return root.joinpath(*parts)


def resolve(root: Path, path: str) -> Path:
    """The on-disk file the absolute ``path`` names under ``root``, every symbolic link followed inside ``root``.

    Raises :class:`OSError` (ELOOP) on a link loop; a missing part is not an error here (the read reports it).
    """
    todo = [part for part in path.split("/") if part not in ("", ".")]
    todo.reverse()
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop()
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = root.joinpath(*done, part)
        try:
            is_link = stat.S_ISLNK(os.lstat(candidate).st_mode)
        except OSError:
            is_link = False
        if not is_link:
            done.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise OSError(errno.ELOOP, "too many levels of symbolic links", str(root.joinpath(*done, part)))
        target = os.readlink(candidate)
        if target.startswith("/"):
            done = []
        todo.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
    return root.joinpath(*done)


def read_text(path: Path, limit: int = MAX_BYTES) -> str:
    """A regular file's text (UTF-8, undecodable bytes replaced), at most ``limit`` bytes.

    Never follows a link in the last part (:func:`resolve` has), never opens a FIFO or a device. Raises
    :class:`OSError` with a message fit for a problem line (it names no content).
    """
    kind = os.lstat(path).st_mode
    if stat.S_ISDIR(kind):
        raise OSError(errno.EISDIR, "is a folder", str(path))
    if not stat.S_ISREG(kind):  # not even opened: opening a device can do something (a tape rewinds)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if stat.S_ISDIR(info.st_mode):
            raise OSError(errno.EISDIR, "is a folder", str(path))
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        data = file.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit} bytes, not read", str(path))
    return data.decode("utf-8", errors="replace")


def expand(root: Path, pattern: str) -> list[str]:
    """The paths (as the server names them) an absolute glob ``pattern`` matches under ``root``, sorted.

    Folders are listed through :func:`resolve`, so a linked folder is read under ``root`` too. Names starting with
    ``.`` match only a pattern part that does (as glob(3)). A pattern without magic is returned as it is.
    """
    if not glob.has_magic(pattern):
        return [pattern]
    paths = ["/"]
    for part in (p for p in pattern.split("/") if p):
        if not glob.has_magic(part):
            paths = [posixpath.join(path, part) for path in paths]
            continue
        matched: list[str] = []
        for path in paths:
            try:
                names = os.listdir(resolve(root, path))
            except OSError:
                continue
            matched.extend(
                posixpath.join(path, name)
                for name in names
                if fnmatch.fnmatchcase(name, part) and (part.startswith(".") or not name.startswith("."))
            )
        paths = matched
    return sorted(path for path in paths if _exists(root, path))


def _exists(root: Path, path: str) -> bool:
    """Whether the folder entry exists (a dangling link does: reading it then says what is wrong)."""
    folder, name = posixpath.split(path)
    try:
        return os.path.lexists(resolve(root, folder) / name)
    except OSError:
        return False
