"""What sources hand to the core and what storages hold: archives, failures and stored files."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

STAMP_FORMAT = "%Y-%m-%d_%H-%M-%S"
# the seconds are optional: nxs-backup named its archives `<target>_<YYYY-MM-DD_HH-MM>.<ext>`, and a job migrated
# from it (docs/migrating-from-nxs-backup.md) rotates, lists and restores those copies as its own
_NAME = re.compile(r"^(?P<target>.+)_(?P<stamp>\d{4}-\d{2}-\d{2}_\d{2}-\d{2}(?:-\d{2})?)\.(?P<ext>[A-Za-z0-9.]+)$")
# a separator, a control character or line break, `.`, `..`, nothing
_BAD_PART = re.compile(r"[/\\\x00-\x1f\x7f-\x9f\u2028\u2029]|^\.{1,2}$|^$")
_EXTENSION = re.compile(r"[A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*")
EXTENSION_MAX = 32
NAME_MAX = 255  # bytes in one file name on every filesystem corral writes to
# what the longest name corral writes for an archive adds to its target and extension: the hidden temp name
# `.<target>_<YYYY-MM-DD_HH-MM-SS>.<extension>.partial-<8 hex>` of an upload in progress
_NAME_OVERHEAD = len("._YYYY-MM-DD_HH-MM-SS..partial-") + 8
COMPRESSIONS = ("", ".gz", ".zst")
MANIFEST_DIR = ".manifests"  # the job folder's folder of checksum manifests (corral.manifest), never a target
RECORDS_DIR = ".runs"  # the job folder's folder of run records (corral.records), never a target


def with_compressions(*bases: str) -> tuple[str, ...]:
    """Each extension as the core's codecs leave it: plain, ``.gz`` and ``.zst`` (for ``SourceSchema.extensions``)."""
    return tuple(base + suffix for base in bases for suffix in COMPRESSIONS)


def shown(value: str, limit: int = 80) -> str:
    """``value`` in backquotes for a one-line message: control characters, line breaks and lone surrogates
    escaped, long values cut."""
    text = value if value.isprintable() else repr(value)[1:-1]
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(value)} characters)"
    return f"`{text}`"


def _encoded_size(name: str) -> int | None:
    """Bytes of ``name`` as a file name, or None when it cannot be one (a lone surrogate from JSON)."""
    try:
        return len(os.fsencode(name))
    except UnicodeEncodeError:
        return None


def _usable_part(part: str) -> bool:
    return not _BAD_PART.search(part) and (_encoded_size(part) or NAME_MAX + 1) <= NAME_MAX


def valid_extension(extension: str) -> bool:
    return len(extension) <= EXTENSION_MAX and _EXTENSION.fullmatch(extension) is not None


def extension_problem(extension: str) -> str | None:
    """Why ``extension`` cannot end a stored archive's name (letters and digits in dot-separated parts)."""
    if valid_extension(extension):
        return None
    return (
        f"archive extension {shown(extension)} is not a file extension (letters and digits in parts separated "
        f"by dots, at most {EXTENSION_MAX} characters)"
    )


def target_problem(target: str, extension: str = "") -> str | None:
    """Why ``target`` cannot name a folder and the archives in it: one file-name part, no control character
    or line break, and short enough for the longest name corral writes (an upload's hidden temp name)."""
    size = _encoded_size(target)
    if _BAD_PART.search(target) or size is None:
        return f"archive target {shown(target)} is not usable as a file name"
    if target == MANIFEST_DIR:
        return f"archive target {shown(target)} is the folder of corral's manifests (docs/verify.md)"
    if target == RECORDS_DIR:
        return f"archive target {shown(target)} is the folder of corral's run records (docs/run-records.md)"
    if size + len(extension) + _NAME_OVERHEAD > NAME_MAX:
        return f"archive target {shown(target)} is too long: the stored file name would exceed {NAME_MAX} bytes"
    return None


def subdir_problem(subdir: str) -> str | None:
    """Why ``subdir`` is not a relative folder below the target's (parts like a target's; no `..`)."""
    if subdir and not all(_usable_part(part) for part in subdir.split("/")):
        return f"archive subdir {shown(subdir)} is not a relative folder"
    return None


@dataclass(frozen=True)
class Archive:
    """A finished archive in the job's tmp_dir, ready to be stored.

    ``target`` names what it holds (the site folder, the database) and becomes part of the stored name;
    ``extension`` is the file type a person needs to restore it (``tar.gz``, ``sql.zst``). The core copies
    ``path`` to every storage and then deletes it. ``subdir`` (optional) is a folder under the target's, such
    as the year of an incremental chain. ``made`` overrides the date and time in the stored name (default:
    the run's start). The names are checked here (see :func:`target_problem`), for every plugin: a bad one
    raises ValueError.

    ``facts``: what the source knows of the archive (tool versions, database sizes, table counts), recorded as
    given in the JSON manifest beside it; values must be JSON (strings, numbers, lists, objects).

    ``keep``: ``path`` is not corral's to delete (external's script put it outside the work dir): the core
    leaves it where it is, and when no storage received it the job's error says so. Other archives live in the
    job's work dir and go with it.
    """

    path: Path
    target: str
    extension: str
    warnings: tuple[str, ...] = ()
    subdir: str = ""
    made: datetime | None = None
    keep: bool = False
    facts: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        _check_names(self.target, self.extension, self.subdir)


def _check_names(target: str, extension: str, subdir: str) -> None:
    problem = extension_problem(extension) or target_problem(target, extension) or subdir_problem(subdir)
    if problem:
        raise ValueError(problem)


@dataclass(frozen=True)
class StreamedArchive:
    """An archive a source hands over as a byte stream while it is being made (a pipe from tar), never whole
    on local disk: the core sends the bytes to every storage at once.

    ``reader`` yields the archive's bytes until EOF. Then the core calls ``finish()``, which waits for the
    program that wrote them and returns its warnings, or raises :class:`corral.DumpError` when the archive is
    not complete (tar failed half-way): nothing is then stored under a final name anywhere. The names are
    checked as :class:`Archive`'s are.
    """

    reader: BinaryIO
    finish: Callable[[], tuple[str, ...]]
    target: str
    extension: str
    subdir: str = ""
    made: datetime | None = None
    facts: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)  # as Archive's

    def __post_init__(self) -> None:
        _check_names(self.target, self.extension, self.subdir)


@dataclass(frozen=True)
class DumpFailure:
    """One target of a source failed; the others go on. ``error`` is a one-line cause."""

    target: str
    error: str


DumpResult = Archive | StreamedArchive | DumpFailure


@dataclass(frozen=True)
class RemoteFile:
    """A file as a storage lists it; ``link``: a symbolic link, which corral never writes and never deletes."""

    path: str
    size: int
    link: bool = False


@dataclass(frozen=True, order=True)
class Backup:
    """A stored archive recognised by its name: ``<dir>/<target>/<target>_<YYYY-MM-DD_HH-MM-SS>.<ext>``."""

    made: datetime
    target: str
    path: str = field(compare=False)
    size: int = field(compare=False, default=0)


def archive_name(target: str, made: datetime, extension: str) -> str:
    """The stored file name: the target and the date and time, so a person finds a backup by date."""
    return f"{target}_{made.strftime(STAMP_FORMAT)}.{extension}"


def parse_backup(remote: RemoteFile) -> Backup | None:
    """Recognise a stored archive by its name; anything else (partial uploads, foreign files) is None."""
    name = remote.path.rstrip("/").rsplit("/", 1)[-1]
    match = _NAME.fullmatch(name)
    if not match:
        return None
    stamp = match["stamp"]
    try:  # fromisoformat is C; strptime parses in Python and a listing may hold thousands of names
        made = datetime.fromisoformat(f"{stamp[:10]}T{stamp[11:].replace('-', ':')}")  # HH:MM or HH:MM:SS
    except ValueError:  # a date that does not exist: not one of ours
        return None
    return Backup(made=made, target=match["target"], path=remote.path, size=remote.size)


def own_backup(remote: RemoteFile, root: str, extensions: Collection[str] | None) -> Backup | None:
    """``remote`` as a backup of the job whose folder is ``root`` when corral could have written it, else None.

    Rotation deletes only these, so a person's file that merely looks like a backup survives: the name parses,
    the file sits in its target's folder (``<root>/<target>/[<subdir>/]<target>_<stamp>.<ext>``), the extension
    is one the job's source makes (``extensions``; any valid one when the source declares none) and the file is
    not a symbolic link.
    """
    if remote.link:
        return None
    folders = _folders_below(remote.path, root)
    backup = parse_backup(remote)
    if backup is None or not folders or folders[0] != backup.target:
        return None
    named = _NAME.fullmatch(posixpath.basename(remote.path).rstrip("/"))
    extension = named["ext"] if named else ""
    known = valid_extension(extension) if extensions is None else extension in extensions
    if not known or any(_BAD_PART.search(part) for part in folders[1:]):
        return None
    return backup


def _folders_below(path: str, root: str) -> list[str]:
    """The folders between ``root`` and the file ``path`` (empty when ``path`` is not below ``root``)."""
    base = posixpath.normpath(root).strip("/")
    full = posixpath.normpath(path).strip("/")
    if not full.startswith(base + "/"):
        return []
    return full[len(base) + 1 :].split("/")[:-1]
