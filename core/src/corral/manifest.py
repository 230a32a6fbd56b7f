"""The manifests corral writes beside a job's archives on each storage, and how it recognises them.

Per job and storage, one pair per run time, in the job's folder::

    <backup_dir>/<job>/.manifests/<YYYY-MM-DD_HH-MM-SS>.sha256   <sha256>  <target>/[<subdir>/]<archive name>
    <backup_dir>/<job>/.manifests/<YYYY-MM-DD_HH-MM-SS>.json     a record per archive (size, sha256, source...)

A pair lists the archives whose names carry its date and time (those of one run), with paths relative to the job's
folder, so ``cd <backup_dir>/<job> && sha256sum -c .manifests/<stamp>.sha256`` proves them without corral. Targets
and subdirs hold no line break or backslash (:func:`corral.archive.target_problem`), so no line needs
``sha256sum``'s escaping. The JSON is the record the core merges and rewrites; the ``.sha256`` file is made from it.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from corral.archive import MANIFEST_DIR, STAMP_FORMAT, RemoteFile, parse_backup

FORMAT = "corral-manifest"
VERSION = 1
KINDS = ("json", "sha256")  # written in this order: the record first, then the line sha256sum reads
_NAME = re.compile(r"(?P<stamp>\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})\.(?P<kind>sha256|json)")
_LINE = re.compile(r"(?P<sha256>[0-9a-f]{64}) [ *](?P<path>[^\n]+)")
_HEX = re.compile(r"[0-9a-f]{64}")
CODECS = {"gz": "gzip", "zst": "zstd"}


class NotAManifest(ValueError):
    """A file where a manifest goes is not one corral wrote: it is left alone."""


@dataclass(frozen=True)
class Entry:
    """One archive as a manifest records it; ``path`` is relative to the job's folder."""

    path: str
    size: int
    sha256: str
    target: str = ""
    source: str = ""
    extension: str = ""
    codec: str = "none"
    made: str = ""
    corral: str = ""
    facts: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    recipients: list[str] = field(default_factory=list, hash=False, compare=False)  # of an age file: public keys


def codec_of(extension: str) -> str:
    """``gzip``, ``zstd`` or ``none``: what the archive's extension says it was compressed with, under its
    encryption (``tar.zst.age`` is zstd; the JSON's ``recipients`` say it is encrypted)."""
    return CODECS.get(extension.removesuffix(".age").rsplit(".", 1)[-1], "none")


def folder(root: str) -> str:
    return posixpath.join(root, MANIFEST_DIR)


def paths(root: str, stamp: str) -> dict[str, str]:
    """The stored paths of the pair named ``stamp``, by kind (``sha256``, ``json``)."""
    return {kind: posixpath.join(folder(root), f"{stamp}.{kind}") for kind in KINDS}


def manifest_stamp(remote: RemoteFile, root: str) -> str | None:
    """The date and time naming ``remote`` when it is a manifest file of the job whose folder is ``root``
    (exactly ``<root>/.manifests/<stamp>.sha256`` or ``.json``, not a link); else None."""
    parent, name = posixpath.split(posixpath.normpath(remote.path))
    match = _NAME.fullmatch(name)
    if remote.link or match is None or parent != posixpath.normpath(folder(root)):
        return None
    return match["stamp"]


def archive_stamp(path: str) -> str | None:
    """The date and time in a stored archive's name: the manifest pair that lists it."""
    backup = parse_backup(RemoteFile(path, 0))
    return None if backup is None else backup.made.strftime(STAMP_FORMAT)


def relative(root: str, path: str) -> str | None:
    """``path`` relative to the job's folder ``root``, or None when it lies elsewhere."""
    base = posixpath.normpath(root).rstrip("/") + "/"
    full = posixpath.normpath(path)
    return full[len(base):] if full.startswith(base) else None


def render_sha256(entries: list[Entry]) -> str:
    """The ``sha256sum`` format: ``<hex>  <path>``, one line per archive, sorted by path."""
    return "".join(f"{entry.sha256}  {entry.path}\n" for entry in sorted(entries, key=lambda e: e.path))


def render_json(job: str, entries: list[Entry]) -> str:
    archives = [asdict(entry) for entry in sorted(entries, key=lambda e: e.path)]
    record = {"format": FORMAT, "version": VERSION, "job": job, "archives": archives}
    return json.dumps(record, indent=1, ensure_ascii=False, default=str) + "\n"


def parse_json(text: str) -> list[Entry]:
    """The entries of a JSON manifest; :class:`NotAManifest` when it is not corral's."""
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's stack (`[[[...]]]`)
        raise NotAManifest("not JSON") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT or not isinstance(record.get("archives"), list):
        raise NotAManifest(f"not a {FORMAT} record")
    known = set(Entry.__dataclass_fields__)
    entries = []
    for item in record["archives"]:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) \
                or not isinstance(item.get("size"), int) or not _HEX.fullmatch(str(item.get("sha256"))):
            raise NotAManifest("an archive record lacks its path, size or sha256")
        entries.append(Entry(**{key: value for key, value in item.items() if key in known}))
    return entries


def parse_sha256(text: str) -> dict[str, str]:
    """``{path: sha256}`` of a ``.sha256`` manifest; :class:`NotAManifest` on a line that is not ``<hex>  <path>``."""
    found = {}
    for line in text.splitlines():
        match = _LINE.fullmatch(line)
        if match is None:
            raise NotAManifest("a line is not `<sha256>  <path>`")
        found[match["path"]] = match["sha256"]
    return found
