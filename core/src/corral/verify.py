"""``corral verify``: re-read stored archives and prove them against the manifests beside them (docs/verify.md).

Per job and storage: one listing, the manifests needed, then each chosen archive fetched into the job's work
folder through the storage's ``get`` and hashed (:mod:`corral.checksum`); with ``deep``, decoded with its standard
tool (:mod:`corral.decodes`). An archive is ``ok`` only when its size and SHA-256 match its manifest entry; one
without an entry is ``unverifiable``, never ok; an entry whose archive is gone is ``missing``.
"""

from __future__ import annotations

import logging
import posixpath
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from corral import manifest
from corral.archive import Backup, RemoteFile, own_backup, parse_backup
from corral.checksum import file_digest
from corral.config.models import JobConfig
from corral.debugging import explain
from corral.encryption import SUFFIX as AGE_SUFFIX
from corral.encryption import decrypt
from corral.errors import CorralError, Interrupted
from corral.manifest import Entry, NotAManifest
from corral.manifest_sync import fetch_text
from corral.runner import Storage, source_extensions
from corral.workarea import new_work_dir

log = logging.getLogger("corral")
OK = "ok"
BAD = ("mismatch", "missing", "undecodable", "unreadable")
UNVERIFIABLE = "unverifiable"


@dataclass
class ArchiveCheck:
    """One stored archive as verify found it: ``status`` is ``ok``, ``unverifiable`` or one of :data:`BAD`."""

    job: str
    storage: str
    path: str
    status: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK


@dataclass
class StorageCheck:
    """One storage of a job: ``ok`` when it could be read and every archive chosen there is ok."""

    job: str
    storage: str
    backup_dir: str
    location: str = ""
    archives: list[ArchiveCheck] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and bool(self.archives) and all(check.ok for check in self.archives)


@dataclass
class VerifyResult:
    """What ``corral verify`` found, per job and storage; ``finished`` is the wall clock at the end."""

    started: datetime
    deep: bool = False
    storages: list[StorageCheck] = field(default_factory=list)
    finished: datetime | None = None

    @property
    def archives(self) -> list[ArchiveCheck]:
        return [check for storage in self.storages for check in storage.archives]

    @property
    def ok(self) -> bool:
        return bool(self.storages) and all(storage.ok for storage in self.storages)


@dataclass(frozen=True)
class _Candidate:
    relative: str
    made: datetime
    target: str
    listed: RemoteFile | None
    entry: Entry | None


def verify_storage(storage: Storage, job: JobConfig, every: bool, deep: bool, check: StorageCheck,
                   identity: Path | None = None) -> None:  # fmt: skip
    """Verify the newest archive of each target (``every``: all archives) on one storage into ``check``."""
    files = storage.list()
    work_dir = new_work_dir(job.tmp_dir)
    try:
        candidates = _candidates(storage, job, files, every, work_dir)
        for candidate in sorted(candidates, key=lambda c: c.relative):
            check.archives.append(_verify_one(storage, job.name, candidate, deep, work_dir, identity))
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _candidates(storage: Storage, job: JobConfig, files: list[Any], every: bool, work_dir: Path) -> list[_Candidate]:
    """The stored archives and manifest entries to check: all of them, or each target's newest."""
    listed: dict[str, tuple[Backup, RemoteFile]] = {}
    extensions = source_extensions(job)
    for remote in files:
        backup = own_backup(remote, storage.root, extensions)
        relative = manifest.relative(storage.root, remote.path)
        if backup is not None and relative is not None:
            listed[relative] = (backup, remote)
    pairs: dict[str, dict[str, RemoteFile]] = {}
    for remote in files:
        stamp = manifest.manifest_stamp(remote, storage.root)
        if stamp is not None:
            pairs.setdefault(stamp, {})[posixpath.splitext(remote.path)[1][1:]] = remote
    wanted = set(pairs)
    if not every and pairs:  # the newest run's pair, and the pairs of each target's newest archive
        newest = _newest(backup for backup, _ in listed.values())
        wanted = {max(pairs)} | {b.made.strftime(manifest.STAMP_FORMAT) for b in newest} & set(pairs)
    entries: dict[str, Entry] = {}
    for stamp in sorted(wanted):
        entries.update(_read_manifest(storage, pairs[stamp], work_dir))
    found: dict[str, _Candidate] = {}
    for relative, (backup, remote) in listed.items():
        found[relative] = _Candidate(relative, backup.made, backup.target, remote, entries.get(relative))
    for relative, entry in entries.items():
        if relative not in found:
            named = parse_backup(RemoteFile(relative, entry.size))
            if named is not None:
                found[relative] = _Candidate(relative, named.made, named.target, None, entry)
    if every:
        return list(found.values())
    latest: dict[str, datetime] = {}
    for candidate in found.values():
        latest[candidate.target] = max(latest.get(candidate.target, candidate.made), candidate.made)
    return [c for c in found.values() if c.made == latest[c.target]]


def _newest(backups: Any) -> list[Backup]:
    by_target: dict[str, Backup] = {}
    for backup in backups:
        if backup.target not in by_target or backup.made > by_target[backup.target].made:
            by_target[backup.target] = backup
    return list(by_target.values())


def _read_manifest(storage: Storage, pair: dict[str, RemoteFile], work_dir: Path) -> dict[str, Entry]:
    """A pair's entries by path: sizes from the JSON record, hashes from the ``.sha256`` file that ``sha256sum``
    reads (an entry whose two files disagree gets no hash, and fails). A file that is not corral's adds nothing."""
    entries: dict[str, Entry] = {}
    if "json" in pair:
        try:  # too big (fetch_text) or another format: skipped, its archives fail as unproven
            text = fetch_text(storage, pair["json"].path, work_dir)
            entries = {entry.path: entry for entry in manifest.parse_json(text or "")}
        except NotAManifest as exc:
            log.warning("storage %s: `%s` is not a manifest corral wrote (%s)", storage.label, pair["json"].path,
                        exc.args[-1])
    if "sha256" in pair:
        try:
            text = fetch_text(storage, pair["sha256"].path, work_dir)
            hashes = manifest.parse_sha256(text or "")
        except NotAManifest as exc:
            log.warning("storage %s: `%s` is not a manifest corral wrote (%s)", storage.label, pair["sha256"].path,
                        exc.args[-1])
            return entries
        for path, sha256 in hashes.items():
            known = entries.get(path)
            if known is None:
                entries[path] = Entry(path=path, size=-1, sha256=sha256)
            elif known.sha256 != sha256:
                entries[path] = Entry(path=path, size=known.size, sha256="the .sha256 and .json manifests disagree")
    return entries


def _verify_one(storage: Storage, job: str, candidate: _Candidate, deep: bool, work_dir: Path,
                identity: Path | None = None) -> ArchiveCheck:  # fmt: skip
    remote = posixpath.join(storage.root, candidate.relative)
    shown = f"{storage.location}{remote}"

    def result(status: str, detail: str = "") -> ArchiveCheck:
        return ArchiveCheck(job, storage.label, shown, status, detail)

    entry, listed = candidate.entry, candidate.listed
    if listed is None:
        return result("missing", "listed in its manifest, not on the storage")
    if entry is None:
        return result(UNVERIFIABLE, "no manifest lists it")
    if entry.size >= 0 and listed.size != entry.size:
        return result("mismatch", f"{listed.size} bytes stored, its manifest says {entry.size}")
    local = work_dir / "verifying"
    try:
        storage.get(remote, local)
        digest = file_digest(local)
        if entry.size >= 0 and digest.size != entry.size:
            return result("mismatch", f"{digest.size} bytes read, its manifest says {entry.size}")
        if digest.sha256 != entry.sha256:
            return result("mismatch", f"sha256 {digest.sha256}, its manifest says {entry.sha256}")
        if deep:
            from corral.decodes import decode_problem

            extension = posixpath.basename(remote)[len(candidate.target) + len("_YYYY-MM-DD_HH-MM-SS.") :]
            if extension.endswith(f".{AGE_SUFFIX}"):  # encrypted (`encrypt:`): decoded only with the key
                if identity is None:
                    return result(UNVERIFIABLE, "its checksum matches; it is encrypted: give --identity to decode it")
                plain = work_dir / "verifying.plain"
                try:
                    decrypt(local, plain, identity, shown)
                    local.unlink()
                    plain.rename(local)
                except CorralError as exc:
                    return result("undecodable", str(exc))
                extension = extension[: -len(AGE_SUFFIX) - 1]
            problem = decode_problem(local, extension)
            if problem:
                return result("undecodable", problem)
        return result(OK, f"{digest.size} bytes, sha256 {digest.sha256[:16]}...")
    except Interrupted:
        raise
    except Exception as exc:
        return result("unreadable", f"cannot fetch it: {explain(exc)[:300]}")
    finally:
        local.unlink(missing_ok=True)
