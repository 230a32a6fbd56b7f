"""``corral restore JOB --target T --date YYYY-MM-DD --to DIR [--storage S] -c MAIN``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from corral.cli.options import DEFAULT_CONFIG, ConfigOption
from corral.errors import CorralError


def restore(
    job: Annotated[str, typer.Argument(help="the job that made the backups")],
    target: Annotated[str, typer.Option("--target", "-t", help="what to restore: a site folder name, a database")],
    date: Annotated[str, typer.Option("--date", "-d", help="YYYY-MM-DD: restore as of the end of that day")],
    to: Annotated[Path, typer.Option("--to", help="folder to restore into")],
    storage: Annotated[
        str | None, typer.Option("--storage", "-s", help="storage name (default: the first with backups)")
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Restore a target as it was on a date: extract file archives (applying incremental chains), or fetch the
    database archive for its standard tool."""
    from corral import logs
    from corral.cli import fail
    from corral.restore import restore as run_restore

    try:
        day = datetime.strptime(date, "%Y-%m-%d").date()
    except ValueError:
        typer.echo(f"corral: error: --date `{date}` is not a date like 2026-07-24", err=True)
        raise typer.Exit(2) from None
    logs.setup(None, ())
    try:
        applied = run_restore(config, job, target, day, to, storage)
    except CorralError as error:
        fail(error)
        return
    for path in applied:
        typer.echo(f"applied {path}")
    typer.echo(f"restored `{target}` as of {day} into {to}")
