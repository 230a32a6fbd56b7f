"""Reading stored archives with proof: the bytes a drill or a restore reads are checked against the manifest the
run wrote beside them (size and SHA-256), so a flipped byte or a replaced file is never taken for the backup.

:class:`HashingStorage` only records what it read (a drill compares afterwards and reports); :class:`ProvingStorage`
refuses: its reads fail as soon as an archive is longer than recorded, at its end when its digest differs, and
before the first byte when the listed size already differs, so a restore never finishes on bytes nobody stored.
"""

from __future__ import annotations

import logging
import posixpath
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, cast

from corral import manifest
from corral.checksum import Checksum, Digest, file_digest
from corral.config.models import JobConfig
from corral.errors import CorralError
from corral.manifest import Entry, NotAManifest
from corral.manifest_sync import fetch_text
from corral.workarea import new_work_dir

log = logging.getLogger("corral")


class ArchiveMismatch(CorralError):
    """A stored archive is not the one its manifest recorded (damaged, cut short or replaced)."""


def entries_of(storage: Any, job: JobConfig, paths: list[str],
               warn: Callable[[str], None] = log.warning) -> dict[str, Entry]:
    """The manifest entries (size, sha256, facts) of the runs that made the stored ``paths``, by stored path.

    A file in a manifest's place that is not one corral wrote (too big, another format) is skipped: ``warn`` gets
    one line and the other manifests still count; the archives it would list are unproven."""
    found: dict[str, Entry] = {}
    stamps = {stamp for stamp in (manifest.archive_stamp(path) for path in paths) if stamp is not None}
    if not stamps:
        return found
    work_dir = new_work_dir(job.tmp_dir)
    try:
        for stamp in sorted(stamps):
            where = manifest.paths(storage.root, stamp)["json"]
            try:
                text = fetch_text(storage, where, work_dir)
                entries = manifest.parse_json(text) if text else []
            except NotAManifest as exc:
                why = exc.args[1] if len(exc.args) > 1 else exc.args[0]
                warn(f"storage {storage.name}: `{where}` is not a manifest corral wrote ({why}): skipped, the "
                     "archives of its run are unproven")
                entries = []
            for entry in entries:
                found[posixpath.join(storage.root, entry.path)] = entry
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return found


def oldest_manifest(files: list[Any], root: str) -> str | None:
    """The stamp of the oldest manifest stored in the job's folder ``root`` (None: none, all made before
    manifests): an archive no manifest lists but made since then is not one a run of corral stored unseen."""
    stamps = [stamp for stamp in (manifest.manifest_stamp(remote, root) for remote in files) if stamp is not None]
    return min(stamps, default=None)


def unlisted(remote: str, oldest: str | None, storage: str) -> str | None:
    """Why ``remote``, which no manifest lists, is refused: made since the oldest manifest (planted, or its run
    could not record it); None when it is older (made before manifests) or there are none."""
    stamp = manifest.archive_stamp(remote)
    if oldest is None or stamp is None or stamp < oldest:
        return None
    return (f"`{posixpath.basename(remote)}` on storage {storage} is in no manifest though manifests are kept since "
            f"{oldest}: planted, or its run could not record it")


def differs(digest: Digest, entry: Entry) -> bool:
    return digest.sha256 != entry.sha256 or (entry.size >= 0 and digest.size != entry.size)


def mismatch_line(remote: str, digest: Digest, entry: Entry) -> str:
    return (f"`{posixpath.basename(remote)}` read back is not what was stored: {digest.size} bytes, sha256 "
            f"{digest.sha256[:16]}..., its manifest says {entry.size} bytes, {entry.sha256[:16]}...")


class HashingStorage:
    """A storage whose ``get`` and ``open_read`` also take the SHA-256 of the bytes they read, so that a drill
    proves the archive it restored is the one the manifest recorded (a flipped byte inside a tar extracts fine)."""

    def __init__(self, storage: Any) -> None:
        self.storage = storage
        self.root, self.name, self.label = storage.root, storage.name, storage.label
        self.digests: dict[str, Digest] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)

    def get(self, remote: str, local: Path) -> None:
        self.storage.get(remote, local)
        self.digests[remote] = file_digest(local)

    def open_read(self, remote: str) -> BinaryIO:
        return cast(BinaryIO, _HashingReader(self.storage.open_read(remote), remote, self.digests))

    def mismatches(self, entries: dict[str, Entry]) -> list[str]:
        """One line per archive read whose bytes differ from its manifest entry."""
        return [mismatch_line(path, digest, entries[path]) for path, digest in sorted(self.digests.items())
                if path in entries and differs(digest, entries[path])]


class _HashingReader:
    """A stored file's stream that records its digest when read to the end."""

    def __init__(self, stream: BinaryIO, remote: str, digests: dict[str, Digest]) -> None:
        self.stream, self.remote, self.digests = stream, remote, digests
        self.checksum = Checksum()

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        if data:
            self.checksum.update(data)
        else:
            self.digests[self.remote] = self.checksum.digest()
        return data

    def close(self) -> None:
        self.stream.close()

    def __enter__(self) -> _HashingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ProvingStorage:
    """A restore's view of a storage: every archive read must match its manifest entry or the read fails
    (:class:`ArchiveMismatch`). ``sizes``: the listed size of each stored path, compared before reading. An archive
    without an entry (made before manifests, or its manifest lost) is read as it is, and ``say`` tells so once."""

    def __init__(self, storage: Any, job: JobConfig, sizes: dict[str, int], say: Callable[[str], None],
                 oldest: str | None = None) -> None:
        self.storage, self.job, self.sizes, self.say, self.oldest = storage, job, sizes, say, oldest
        self.root, self.name, self.label = storage.root, storage.name, storage.label
        self.entries: dict[str, Entry] = {}
        self._stamps: set[str | None] = set()
        self._noted: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)

    def entry(self, remote: str) -> Entry | None:
        """``remote``'s manifest entry (its run's manifest is fetched on first use); None, said once, if none and
        it is older than ``oldest`` (the storage's oldest manifest); refused if none and it is not."""
        stamp = manifest.archive_stamp(remote)
        if stamp not in self._stamps:
            self._stamps.add(stamp)
            self.entries.update(entries_of(self.storage, self.job, [remote], lambda line: self.say(f"warning: {line}")))
        if remote not in self.entries and remote not in self._noted:
            refused = unlisted(remote, self.oldest, self.name)
            if refused is not None:
                raise ArchiveMismatch(f"{refused}; not restored (--no-verify restores it anyway)")
            self._noted.add(remote)
            self.say(f"note: `{posixpath.basename(remote)}` has no manifest entry (made before manifests, or its "
                     "manifest is gone): restored without proof that it is what was stored")
        found = self.entries.get(remote)
        listed = self.sizes.get(remote)
        if found is not None and found.size >= 0 and listed is not None and listed != found.size:
            raise ArchiveMismatch(f"`{posixpath.basename(remote)}` on storage {self.name} is {listed} bytes, its "
                                  f"manifest says {found.size}: not restored (damaged or replaced; `corral verify` "
                                  "checks every archive, --no-verify restores it anyway)")
        return found

    def get(self, remote: str, local: Path) -> None:
        entry = self.entry(remote)
        self.storage.get(remote, local)
        if entry is not None:
            digest = file_digest(local)
            if differs(digest, entry):
                local.unlink(missing_ok=True)
                raise ArchiveMismatch(_refused(remote, digest, entry, self.name))

    def open_read(self, remote: str) -> BinaryIO:
        entry = self.entry(remote)
        stream = self.storage.open_read(remote)
        return stream if entry is None else cast(BinaryIO, _ProvingReader(stream, remote, entry, self.name))


def _refused(remote: str, digest: Digest, entry: Entry, storage: str) -> str:
    return (f"{mismatch_line(remote, digest, entry)} (storage {storage}): not restored past this point (`corral "
            "verify` checks every archive, --no-verify restores it anyway)")


class _ProvingReader(_HashingReader):
    """A stored archive's stream that fails once it holds more bytes than recorded, and at its end (before the
    reader sees EOF) when its digest is not the recorded one."""

    def __init__(self, stream: BinaryIO, remote: str, entry: Entry, storage: str) -> None:
        super().__init__(stream, remote, {})
        self.entry, self.storage = entry, storage
        self.read_size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.checksum.update(data)
        self.read_size += len(data)
        if (data and 0 <= self.entry.size < self.read_size) or (not data and differs(self.checksum.digest(),
                                                                                      self.entry)):
            raise ArchiveMismatch(_refused(self.remote, self.checksum.digest(), self.entry, self.storage))
        return data
