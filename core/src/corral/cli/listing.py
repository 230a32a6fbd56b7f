"""``corral list [JOB] [--json] -c MAIN``: the backups on each storage, newest first (docs/cli.md).

A backup is what one run stored for one target: its archive, and for an incremental the tar snapshot (``.snar``)
stored beside it under the same name and time, which is part of it and not a second backup.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer

from corral.cli.options import DEFAULT_CONFIG, ConfigOption, load_selected

if TYPE_CHECKING:
    from corral.archive import Backup

_SNAPSHOTS = (".snar", ".snar.age")  # an incremental's companion file: listed under its archive


@dataclass
class Listed:
    """One backup as ``--json`` gives it: ``path`` is the archive, ``files`` everything stored for it."""

    job: str
    storage: str
    target: str
    made: str
    size: int
    path: str
    files: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Shelf:
    """One storage of one job: where it is, how many backups it holds, or why it could not be listed."""

    job: str
    storage: str
    location: str = ""
    backups: int = 0
    error: str | None = None


def list_backups(
    job: Annotated[str, typer.Argument(help="a job name, or all, files, databases, external")] = "all",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document on stdout, for scripts")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Show each job's backups on each storage, newest first: date, target, size, archive path. One line per
    backup: an incremental's `.snar` snapshot is part of its archive."""
    from corral.masking import Masker
    from corral.runner import storage_labels

    loaded, names = load_selected(config, job)
    mask = Masker(loaded.secrets)
    shelves: list[Shelf] = []
    listed: list[Listed] = []
    for job_config in loaded.jobs:
        if job_config.name not in names:
            continue
        for storage_config, label in zip(job_config.storages, storage_labels(job_config), strict=True):
            if storage_config.enable:
                shelf = Shelf(job_config.name, label)
                shelves.append(shelf)
                found = _backups(job_config, storage_config, shelf, mask)
                shelf.backups = len(found)
                listed += found
    for shelf in shelves:
        if shelf.error:
            typer.echo(f"corral: error: job `{shelf.job}`: storage {shelf.storage}: {shelf.error}", err=True)
    if as_json:
        listed.sort(key=lambda backup: backup.made, reverse=True)
        typer.echo(json.dumps({"storages": [asdict(s) for s in shelves], "backups": [asdict(b) for b in listed]},
                              indent=2))
    else:
        _show(shelves, listed)
    if any(shelf.error for shelf in shelves):
        raise typer.Exit(1)


def _backups(job_config: Any, storage_config: Any, shelf: Shelf, mask: Any) -> list[Listed]:
    """The storage's backups of the job, newest first; a storage that fails is ``shelf.error``, masked."""
    from corral.archive import own_backup
    from corral.debugging import expected, explain
    from corral.runner import Storage, source_extensions

    storage = None
    try:
        storage = Storage(storage_config, job_config, shelf.storage)
        shelf.location = f"{storage.location}{storage.root}"
        files = storage.list()
        extensions = source_extensions(job_config)
        found = [b for b in (own_backup(f, storage.root, extensions) for f in files) if b is not None]
    except Exception as exc:
        line = explain(exc)  # a bug's origin; with --debug, its traceback
        shelf.error = mask(line if not expected(exc) else str(exc).strip() or type(exc).__name__)
        return []
    finally:
        if storage is not None:
            storage.close()
    runs: dict[tuple[str, Any], list[Backup]] = {}
    for backup in found:
        runs.setdefault((backup.target, backup.made), []).append(backup)
    listed = []
    for (target, made), parts in sorted(runs.items(), key=lambda run: (run[0][1], run[0][0]), reverse=True):
        parts.sort(key=lambda part: (part.path.endswith(_SNAPSHOTS), part.path))  # the archive first
        listed.append(Listed(job_config.name, shelf.storage, target, made.isoformat(), sum(p.size for p in parts),
                             parts[0].path, [{"path": p.path, "size": p.size} for p in parts]))
    return listed


def _show(shelves: list[Shelf], listed: list[Listed]) -> None:
    for shelf in shelves:
        if shelf.error:
            continue
        typer.echo(f"{shelf.job} on {shelf.storage} ({shelf.location}): {shelf.backups} backup(s)")
        for backup in listed:
            if (backup.job, backup.storage) == (shelf.job, shelf.storage):
                typer.echo(f"  {backup.made.replace('T', ' ')}  {backup.target:24} {backup.size:>14,d}  {backup.path}")
