"""What sources hand to the core and what storages hold: archives, failures and stored files."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

STAMP_FORMAT = "%Y-%m-%d_%H-%M-%S"
_NAME = re.compile(r"^(?P<target>.+)_(?P<stamp>\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})\.(?P<ext>[A-Za-z0-9.]+)$")
_BAD_TARGET = re.compile(r"[/\\\x00]|^\.+$|^$")


@dataclass(frozen=True)
class Archive:
    """A finished archive in the job's tmp_dir, ready to be stored.

    ``target`` names what it holds (the site folder, the database) and becomes part of the stored name;
    ``extension`` is the file type a person needs to restore it (``tar.gz``, ``sql.zst``). The core moves
    ``path`` to every storage and then deletes it. ``subdir`` (optional) is a folder under the target's, such
    as the year of an incremental chain. ``made`` overrides the date and time in the stored name (default:
    the run's start).
    """

    path: Path
    target: str
    extension: str
    warnings: tuple[str, ...] = ()
    subdir: str = ""
    made: datetime | None = None

    def __post_init__(self) -> None:
        if _BAD_TARGET.search(self.target):
            raise ValueError(f"archive target {self.target!r} is not usable as a file name")
        if self.subdir and any(_BAD_TARGET.search(part) for part in self.subdir.split("/")):
            raise ValueError(f"archive subdir {self.subdir!r} is not a relative folder")


@dataclass(frozen=True)
class DumpFailure:
    """One target of a source failed; the others go on. ``error`` is a one-line cause."""

    target: str
    error: str


DumpResult = Archive | DumpFailure


@dataclass(frozen=True)
class RemoteFile:
    """A file as a storage lists it."""

    path: str
    size: int


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
    match = _NAME.match(name)
    if not match:
        return None
    stamp = match["stamp"]
    try:  # fromisoformat is C; strptime parses in Python and a listing may hold thousands of names
        made = datetime.fromisoformat(f"{stamp[:10]}T{stamp[11:].replace('-', ':')}")
    except ValueError:  # a date that does not exist: not one of ours
        return None
    return Backup(made=made, target=match["target"], path=remote.path, size=remote.size)
