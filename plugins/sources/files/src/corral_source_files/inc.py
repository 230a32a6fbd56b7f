"""``inc_files``: the article's yearly/monthly/decade/daily GNU tar incremental scheme, restorable with ``tar -G``.

Each target gets its own chain on every storage; the snapshots live beside the archives, so a server that lost
its disk, or a second storage, continues the chain. One tar runs per target per level; its archive streams to
every storage, and only its snapshot (``--listed-incremental``) is a file in tmp_dir. With ``encrypt`` the stored
snapshots are age files the server cannot read: it continues from its own copies (:mod:`.state`), and starts a
new full chain when it has none of the link it would build on.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from corral import (
    Archive,
    Codec,
    CorralError,
    DrillReport,
    DrillRequest,
    DumpError,
    DumpFailure,
    DumpResult,
    Ended,
    Interrupted,
    JobConfig,
    JobOptions,
    RestoreRequest,
    RunContext,
    SourceSchema,
    Storage,
    archive_name,
    full_disk_note,
    hookimpl,
    targets,
)
from corral.config.models import absolute_path
from corral_source_files import chain, state, tar
from corral_source_files.copies import Listings, copy_missing
from corral_source_files.desc import FilesSource, check_tools
from corral_source_files.drill import drill_files
from corral_source_files.restore import fetch_and_extract
from corral_source_files.targets import member_excludes, target_for


class IncFilesSource(FilesSource):
    """Same keys as ``desc_files``."""


class IncFilesJob(JobOptions):
    state_dir: Path = Field(
        default=Path("/var/lib/corral"), description="with `encrypt`: private folder for the snapshots the next "
        "run continues from (<state_dir>/<job>/<target>/)", json_schema_extra={"example": "/var/lib/corral"},
    )

    @field_validator("state_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path | None:
        return absolute_path(value)  # relative, cron's run and the admin's would keep two states


@hookimpl
def corral_source_schema() -> SourceSchema:
    return SourceSchema(job=IncFilesJob, source=IncFilesSource, group="files", retention="source",
                        extensions=chain.PLAIN)


def _listings(storages: list[Storage], run: RunContext) -> dict[str, tuple[Storage, list]]:
    """One listing per storage; a storage that cannot be listed is left out (the core reports it)."""
    found = {}
    for storage in storages:
        try:
            found[storage.name + storage.root] = (storage, storage.list())
        except Interrupted:  # SIGTERM/SIGINT while a storage answers: the run stops
            raise
        except Exception as exc:
            run.log.error("storage %s: cannot read the incremental chains: %s", storage.name, exc)
    return found


def _choose(per_storage: Listings, now: datetime) -> tuple[int, list[chain.Link], Storage | None]:
    """The deepest usable chain among the storages (the smallest archive to make), and where it is."""
    best: tuple[int, list[chain.Link], Storage | None] = (chain.FULL, [], None)
    for storage, links in per_storage.values():
        level, base = chain.plan(links, now)
        if level > best[0] or (level == best[0] and base and best[1] and base[-1].made > best[1][-1].made):
            best = (level, base, storage)
    return best


def _rotate(per_storage: Listings, now: datetime, run: RunContext) -> None:
    for storage, links in per_storage.values():
        for link in chain.expired(links, now):
            for path in link.paths:
                try:
                    storage.delete(path)
                    run.log.info("storage %s: rotation deleted `%s`", storage.name, path)
                except Interrupted:  # SIGTERM/SIGINT while a storage answers: the run stops
                    raise
                except Exception as exc:
                    run.log.error("storage %s: rotation cannot delete `%s`: %s", storage.name, path, exc)


@hookimpl
def corral_source_dump(
    job: JobConfig, source: IncFilesSource, tmp_dir: Path, run: RunContext, storages: list[Storage]
) -> Iterator[DumpResult]:
    chosen = check_tools(source)
    listings = _listings(storages, run)
    matches, unmatched = targets.named(source.target)
    for pattern in unmatched:
        yield DumpFailure(pattern, "target matches no file or folder")
    by_target = {key: (storage, chain.links_by_target(files, storage.root))
                 for key, (storage, files) in listings.items()}
    every_listed = len(listings) == len(storages)  # else the state is not pruned: the unlisted one may need it
    for path, name in matches.items():
        per_storage = {key: (storage, links.get(name, [])) for key, (storage, links) in by_target.items()}
        yield from _dump_target(job, source, chosen, path, name, per_storage, tmp_dir, run, every_listed)


def _state_folder(job: JobConfig, name: str, per_storage: Listings, run: RunContext, prune: bool) -> Path | None:
    """The target's local state folder, pruned when every storage was listed, when the job encrypts (None
    otherwise): a storage that is down tonight may hold the only chain a snapshot continues."""
    if job.encrypt is None:
        return None
    options = job.options if isinstance(job.options, IncFilesJob) else IncFilesJob()
    where = state.folder(options.state_dir, job.name, name)
    for gone in state.prune(where, [links for _, links in per_storage.values()], run.now.year) if prune else []:
        run.log.debug("target %s: local snapshot `%s` is no longer needed: deleted", name, gone)
    return where


def _dump_target(job: JobConfig, source: IncFilesSource, chosen: Codec, path: Path, name: str,
                 per_storage: Listings, tmp_dir: Path, run: RunContext,
                 every_listed: bool = True) -> Iterator[DumpResult]:  # fmt: skip
    now = run.now
    try:
        where = _state_folder(job, name, per_storage, run, prune=every_listed)
    except (CorralError, OSError) as exc:
        yield DumpFailure(name, str(exc))
        return
    level, base, reference = _choose(per_storage, now)
    this_year = [link for _, links in per_storage.values() for link in links if link.made.year == now.year]
    if level == chain.FULL and this_year:
        run.log.warning("target %s: no complete chain for %d on any storage: starting a new full chain", name,
                        now.year)
    snar = tmp_dir / f"{name}.snar"
    try:
        sealed = bool(base) and base[-1].sealed_snar
        kept = sealed and where is not None and state.fetch(where, base[-1], snar)
    except OSError as exc:  # tmp_dir full: this target fails, the job's other targets go on
        yield DumpFailure(name, f"cannot copy the local snapshot to `{snar}`: {exc.strerror}"
                          f"{full_disk_note(tmp_dir)}")
        return
    if sealed and not kept:
        run.log.info("target %s: the local state (`%s`) has no snapshot of the newest link on the storages (`%s`, "
                     "encrypted): starting a new full chain", name, where, state.local_name(base[-1]))
        level, base, reference = chain.FULL, [], None
    errors: list[str] = []
    if reference is not None:
        errors = copy_missing(base, reference, per_storage, tmp_dir, job.name)
        if not base[-1].sealed_snar:
            try:
                reference.get(base[-1].snar or "", snar)
            except Interrupted:  # SIGTERM/SIGINT while a storage answers: the run stops
                raise
            except Exception as exc:
                yield DumpFailure(name, f"cannot fetch the snapshot of the chain from {reference.name}: {exc}")
                return
    for error in errors:
        yield DumpFailure(name, error)
    if level <= chain.MONTH:
        _rotate(per_storage, now, run)
    level_name = chain.LEVELS[level]
    # the archive streams from tar to every storage; only the snapshot (a few KB to MB) lives in tmp_dir
    facts: dict[str, Any] = {"level": level_name}
    pipe, check_tar = tar.stream(run, tmp_dir, path, member_excludes(path, source.excludes), chosen,
                                 extra=(f"--listed-incremental={snar}", "--no-check-device"), facts=facts)
    made: list[bool] = []

    def check(ended: Ended) -> tuple[str, ...]:
        warnings = check_tar(ended)  # raises when tar failed: the core stores nothing
        made.append(True)
        return warnings

    subdir = f"{now:%Y}"
    yield from pipe.archive(name, f"{level_name}.tar{chosen.suffix}", check=check, facts=facts, subdir=subdir)
    if not made:  # the archive failed: its snapshot describes nothing stored
        snar.unlink(missing_ok=True)
        return
    based_on = f" on the {chain.LEVELS[base[-1].level]} of {base[-1].made:%Y-%m-%d}" if base else ""
    run.log.info("target %s: %s archive%s", name, level_name, based_on)
    if level == chain.DAY:
        snar.unlink(missing_ok=True)
        return
    if where is not None:  # the next run reads this copy: the stored one is encrypted
        try:
            state.keep(where, snar, f"{archive_name(name, now, f'{level_name}.snar')}")
        except OSError as exc:  # a full state_dir: the snapshot is not stored either, so no storage holds a
            snar.unlink(missing_ok=True)  # link this server cannot continue; the job's other targets go on
            yield DumpFailure(name, f"the {level_name} archive was made, but its snapshot cannot be kept in the "
                              f"state folder `{where}`: {exc.strerror}{full_disk_note(where)}; the next run "
                              "makes this level again")
            return
    yield Archive(path=snar, target=name, extension=f"{level_name}.snar", subdir=subdir)


@hookimpl
def corral_source_restore(
    job: JobConfig, storage: Storage, target: str, date: datetime, dest: Path | None, run: RunContext,
    request: RestoreRequest,
) -> list[str]:
    if dest is None:
        raise DumpError("a files archive is restored into a folder: give --to DIR")
    links = chain.links_of(storage.list(), storage.root, target)
    try:
        steps = chain.restore_chain(links, date)
    except chain.BrokenChain as exc:
        raise DumpError(f"target `{target}` on {storage.name}: {exc}") from None
    if not steps:
        raise DumpError(f"no incremental archive of `{target}` made on or before {date:%Y-%m-%d %H:%M:%S} "
                        f"on {storage.name}")
    paths = [link.archive for link in steps if link.archive]
    return fetch_and_extract(run, storage, paths, dest, incremental=True, tmp_dir=job.tmp_dir, request=request)


@hookimpl
def corral_source_target_for(job: JobConfig, given: str) -> str | None:
    return target_for(job.sources, given)


@hookimpl
def corral_source_drill(storage: Storage, target: str, run: RunContext, request: DrillRequest) -> DrillReport:
    """The chain up to the newest archive, extracted in order with ``tar -G``."""
    links = chain.links_of(storage.list(), storage.root, target)
    try:
        steps = chain.restore_chain(links, request.archive.made)
    except chain.BrokenChain as exc:
        raise DumpError(f"target `{target}` on {storage.name}: {exc}") from None
    paths = [link.archive for link in steps if link.archive]
    return drill_files(run, storage, paths, request, incremental=True)


@hookimpl
def corral_source_doctor(source: Any) -> list[Any]:
    """``corral doctor``: GNU tar, the codec, what each target matches now (see :mod:`.doctor`)."""
    from corral_source_files.doctor import check

    return check(source)
