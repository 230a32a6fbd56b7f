"""Copying a chain's files to the storages that lack them, each with its original's checksum record.

A storage that was down misses a link; the next run copies the base chain to it from the storage the run builds
on. The copy is checked against the original's manifest entry (size and SHA-256 of the bytes fetched) before
it is stored, and that entry goes into the destination's manifest, so ``corral verify`` covers every chain
file on every storage. An original without an entry (stored before manifests) is copied without one.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from corral import Interrupted, manifest
from corral.checksum import file_digest
from corral.manifest import Entry, NotAManifest
from corral.manifest_sync import add_entries, read_pair
from corral_source_files import chain

if TYPE_CHECKING:
    from corral import Storage

Listings = dict[str, tuple["Storage", list[chain.Link]]]


def copy_missing(base: list[chain.Link], source: Storage, per_storage: Listings, scratch: Path, job: str
                 ) -> list[str]:
    """Copy the base chain to the storages that lack part of it (one was down); returns errors."""
    errors = []
    records = Records(source, scratch)
    for storage, links in per_storage.values():
        if storage is source:
            continue
        have = {posixpath.basename(path) for link in links for path in link.paths}
        copied: dict[str, list[Entry]] = defaultdict(list)  # by manifest pair: each written once
        for link in base:
            for remote in link.paths:
                if posixpath.basename(remote) in have:
                    continue
                try:
                    entry = copy_one(remote, source, storage, scratch, records)
                except Interrupted:  # SIGTERM/SIGINT while a storage answers: the run stops
                    raise
                except Exception as exc:
                    errors.append(f"storage {storage.name}: cannot copy chain file `{posixpath.basename(remote)}`: "
                                  f"{exc}")
                    continue
                if entry is not None:
                    copied[manifest.archive_stamp(remote) or entry.made].append(entry)
        for stamp, entries in copied.items():
            try:
                add_entries(storage, job, stamp, entries, scratch)
            except Interrupted:
                raise
            except Exception as exc:
                errors.append(f"storage {storage.name}: chain files copied, but their checksums could not be "
                              f"recorded in the manifest of {stamp}: {exc}")
    return errors


def copy_one(remote: str, source: Storage, storage: Storage, scratch: Path, records: Records) -> Entry | None:
    """Fetch ``remote``, check it against its record, store it on ``storage``; returns the record (None when the
    original has none)."""
    local = scratch / posixpath.basename(remote)
    try:
        source.get(remote, local)
        entry = records.entry(remote)
        if entry is not None:
            digest = file_digest(local)
            if (digest.size, digest.sha256) != (entry.size, entry.sha256):
                raise ValueError(f"the copy on {source.name} does not match its manifest (size {digest.size}, "
                                 f"sha256 {digest.sha256[:12]}...; recorded {entry.size}, {entry.sha256[:12]}...)")
        storage.put(local, storage.root + remote[len(source.root):])
        return entry
    finally:
        local.unlink(missing_ok=True)


class Records:
    """The source storage's manifest entries, one pair read per run time."""

    def __init__(self, storage: Storage, scratch: Path) -> None:
        self.storage, self.scratch = storage, scratch
        self.pairs: dict[str, dict[str, Entry]] = {}

    def entry(self, remote: str) -> Entry | None:
        stamp, relative = manifest.archive_stamp(remote), manifest.relative(self.storage.root, remote)
        if stamp is None or relative is None:
            return None
        if stamp not in self.pairs:
            try:
                entries = read_pair(self.storage, manifest.paths(self.storage.root, stamp), self.scratch) or []
            except NotAManifest:  # not corral's: the copy is as unverifiable as its original
                entries = []
            self.pairs[stamp] = {entry.path: entry for entry in entries}
        return self.pairs[stamp].get(relative)
