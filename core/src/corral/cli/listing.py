"""``corral list -c MAIN [JOB]``: the backups on each storage, by date."""

from __future__ import annotations

from typing import Annotated

import typer

from corral.cli.options import DEFAULT_CONFIG, ConfigOption, load_selected


def list_backups(
    job: Annotated[str, typer.Argument(help="a job name, or all, files, databases, external")] = "all",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Show each job's backups on each storage: target, date, size, path."""
    from corral.archive import own_backup
    from corral.masking import Masker
    from corral.runner import Storage, source_extensions

    loaded, names = load_selected(config, job)
    mask = Masker(loaded.secrets)
    failed = False
    for job_config in loaded.jobs:
        if job_config.name not in names:
            continue
        for storage_config in job_config.storages:
            if not storage_config.enable:
                continue
            try:
                storage = Storage(storage_config, job_config)
                files = storage.list()
            except Exception as exc:
                typer.echo(f"corral: error: job `{job_config.name}`: storage {storage_config.name}: {mask(str(exc))}",
                           err=True)
                failed = True
                continue
            extensions = source_extensions(job_config)
            backups = sorted(b for b in (own_backup(f, storage.root, extensions) for f in files) if b is not None)
            where = f"{storage.location}{storage.root}"
            typer.echo(f"{job_config.name} on {storage_config.name} ({where}): {len(backups)} backup(s)")
            for backup in backups:
                typer.echo(f"  {backup.target:24} {backup.made:%Y-%m-%d %H:%M:%S} {backup.size:>14,d}  {backup.path}")
    if failed:
        raise typer.Exit(1)
