"""Keeping each storage's manifests in step with its archives, once a job has stored and deleted what it will.

Written after the job's archives reached the storage, through the storage's own ``put`` (a hidden temp name,
then a rename: a manifest is whole or absent, like an archive). An archive that reached this storage is added
to the pair named after the time in its name; one the job deleted there (rotation, a source's own chains) is
taken out of its pair, and a pair left empty is deleted. A file in a manifest's place that corral did not write
(not its format, a symbolic link) is never rewritten or deleted: the job says so.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corral import manifest
from corral.archive import RemoteFile
from corral.debugging import explain
from corral.errors import Interrupted, StorageUnreachable
from corral.manifest import Entry, NotAManifest
from corral.remote import is_transient

if TYPE_CHECKING:
    from corral.config.models import JobConfig
    from corral.run import ArchiveOutcome
    from corral.runner import Storage

MAX_MANIFEST = 64 * 2**20  # a bigger file in a manifest's place is not one corral wrote


def sync_manifests(
    storage: Storage, job: JobConfig, archives: list[ArchiveOutcome], work_dir: Path, mask: Callable[[str], str]
) -> list[str]:
    """Add the archives stored on ``storage`` to its manifests, take out the ones it deleted; one line per
    problem (the archives stay stored: only their proof is missing)."""
    added: dict[str, list[Entry]] = defaultdict(list)
    for archive in archives:
        remote = archive.stored.get(storage.label)
        entry = _entry(storage.root, remote, archive, job, mask) if remote else None
        stamp = manifest.archive_stamp(remote) if remote else None
        if entry is not None and stamp is not None:
            added[stamp].append(entry)
    removed: dict[str, set[str]] = defaultdict(set)
    for path in list(storage.deleted):
        stamp, relative = manifest.archive_stamp(path), manifest.relative(storage.root, path)
        if stamp is not None and relative is not None:
            removed[stamp].add(relative)
    problems = []
    for stamp in sorted(set(added) | set(removed)):
        try:
            _rewrite(storage, job.name, stamp, added.get(stamp, []), removed.get(stamp, set()), work_dir)
        except Interrupted:
            raise
        except NotAManifest as exc:
            problems.append(f"storage {storage.label}: `{exc.args[0]}` is not a manifest corral wrote "
                            f"({exc.args[1]}): it is left alone and the run's checksums are not recorded there")
        except Exception as exc:
            where = manifest.paths(storage.root, stamp)["sha256"]
            problems.append(f"storage {storage.label}: cannot write the manifest `{where}`: {explain(exc)}")
            if isinstance(exc, StorageUnreachable) or is_transient(exc):
                break  # it stopped answering: the other pairs would wait for the same timeouts
    return problems


def _entry(root: str, remote: str, archive: ArchiveOutcome, job: JobConfig, mask: Callable[[str], str]
           ) -> Entry | None:
    from corral import __version__

    relative = manifest.relative(root, remote)
    if relative is None or not archive.sha256:
        return None
    try:
        facts = json.loads(mask(json.dumps(archive.facts, default=str)))
    except ValueError:
        facts = {}
    made = manifest.archive_stamp(remote) or ""
    recipients = list(job.encrypt.recipients) if job.encrypt and archive.extension.endswith(".age") else []
    return Entry(path=relative, size=archive.size, sha256=archive.sha256, target=archive.target, source=job.type,
                 extension=archive.extension, codec=manifest.codec_of(archive.extension), made=made,
                 corral=__version__, facts=facts, recipients=recipients)


def add_entries(storage: Storage, job: str, stamp: str, entries: list[Entry], work_dir: Path) -> None:
    """Add ``entries`` to the pair ``stamp`` of ``storage``: archives a source copied there from another storage
    (``inc_files``' chains), with the records the original has."""
    _rewrite(storage, job, stamp, entries, set(), work_dir)


def _rewrite(storage: Storage, job: str, stamp: str, added: list[Entry], removed: set[str], work_dir: Path) -> None:
    where = manifest.paths(storage.root, stamp)
    old = read_pair(storage, where, work_dir)
    if old is None and not added:
        return  # archives from before manifests, or a pair deleted meanwhile
    old = old or []
    replaced = removed | {entry.path for entry in added}
    if not added and not any(entry.path in replaced for entry in old):
        return
    entries = [entry for entry in old if entry.path not in replaced] + added
    if not entries:
        for path in reversed(where.values()):  # the line sha256sum reads first, then the record
            with contextlib.suppress(FileNotFoundError):
                storage.delete(path)
        return
    texts = {"json": manifest.render_json(job, entries), "sha256": manifest.render_sha256(entries)}
    for kind in manifest.KINDS:
        local = work_dir / f"manifest-{stamp}.{kind}"
        local.write_text(texts[kind], encoding="utf-8")
        try:
            storage.put(local, where[kind])
        finally:
            local.unlink(missing_ok=True)


def read_pair(storage: Storage, where: dict[str, str], work_dir: Path) -> list[Entry] | None:
    """The entries of the stored pair at ``where`` (its JSON record), None when there is none.

    :class:`NotAManifest` (path, why) when a file there is not corral's: a link, too big, another format, or a
    ``.sha256`` without its record.
    """
    listed = _listed(storage)
    if listed is not None:
        for path in where.values():
            found = listed.get(posixpath.normpath(path))
            if found is not None and (found.link or found.size > MAX_MANIFEST):
                raise NotAManifest(path, "a symbolic link" if found.link else "too big")
        if posixpath.normpath(where["json"]) not in listed:
            if posixpath.normpath(where["sha256"]) in listed:
                raise NotAManifest(where["sha256"], "its JSON record is missing")
            return None
    text = fetch_text(storage, where["json"], work_dir)
    if text is None:
        return None
    try:
        return manifest.parse_json(text)
    except NotAManifest as exc:
        raise NotAManifest(where["json"], str(exc)) from None


def _listed(storage: Storage) -> dict[str, RemoteFile] | None:
    if storage.listed is None:
        return None
    return {posixpath.normpath(item.path): item for item in storage.listed}


def fetch_text(storage: Any, remote: str, work_dir: Path) -> str | None:
    """A small stored file's text (fetched through the storage's ``get``), None when it does not exist."""
    local = work_dir / f"fetched-{posixpath.basename(remote)}"
    try:
        storage.get(remote, local)
        if local.stat().st_size > MAX_MANIFEST:
            raise NotAManifest(remote, "too big")
        return local.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    finally:
        local.unlink(missing_ok=True)
