"""``corral restore JOB --target T (--date WHEN | --archive NAME) --to DIR [--force] [--storage S] -c MAIN``."""

from __future__ import annotations

import posixpath
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from corral.cli.options import DEFAULT_CONFIG, ConfigOption
from corral.errors import CorralError

# what --date accepts, and the span each names: restore the newest archive made up to the span's last moment
_FORMATS = (
    ("%Y-%m-%d", timedelta(days=1)),
    ("%Y-%m-%d %H:%M", timedelta(minutes=1)),
    ("%Y-%m-%dT%H:%M", timedelta(minutes=1)),
    ("%Y-%m-%d %H:%M:%S", timedelta(seconds=1)),
    ("%Y-%m-%dT%H:%M:%S", timedelta(seconds=1)),
)


def parse_when(text: str) -> datetime | None:
    """The last moment ``--date`` covers (``2026-03-01``: the end of that day), or None when it is no date."""
    for pattern, span in _FORMATS:
        try:
            return datetime.strptime(text.strip(), pattern) + (span - timedelta(microseconds=1))  # 9999-12-31 fits
        except ValueError:
            continue
    return None


def _usage(message: str) -> typer.Exit:
    typer.echo(f"corral: error: {message}", err=True)
    return typer.Exit(2)


def restore(
    job: Annotated[str, typer.Argument(help="the job that made the backups")],
    target: Annotated[str, typer.Option("--target", "-t", help="what to restore: a site folder name, a database")],
    to: Annotated[Path, typer.Option("--to", help="folder to restore into; must be empty or new unless --force")],
    date: Annotated[str | None, typer.Option(
        "--date", "-d", help="YYYY-MM-DD (the end of that day) or YYYY-MM-DD HH:MM[:SS]: the newest archive made "
        "at or before then")] = None,
    archive: Annotated[str | None, typer.Option(
        "--archive", "-a", help="one stored archive's file name, as `corral list` shows it; for inc_files its "
        "chain up to and including it")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="restore into a folder that already has files: files of the same name are overwritten, "
        "and an inc_files restore deletes, inside the target's folder, what the backup did not have")] = False,
    storage: Annotated[
        str | None, typer.Option("--storage", "-s", help="storage name (default: the first with backups)")
    ] = None,
    identity: Annotated[Path | None, typer.Option(
        "--identity", "-i", help="age secret key file: decrypt encrypted archives (`encrypt:`) on the way")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Restore a target as it was at a moment (--date) or from one archive (--archive): extract file archives
    (applying incremental chains), or fetch the database archive for its standard tool. Refuses a --to folder
    that already has files unless --force."""
    from corral import logs
    from corral.cli import fail
    from corral.restore import Choice
    from corral.restore import restore as run_restore
    from corral.restore import when as shown_when

    if date is not None and archive is not None:
        raise _usage("give --date or --archive, not both")
    if date is None and archive is None:
        raise _usage("say which backup to restore: --date or --archive")
    until = None
    if date is not None:
        until = parse_when(date)
        if until is None:
            raise _usage(f"--date `{date}` is not a date like 2026-07-24 or a time like 2026-07-24 09:00")
    name = posixpath.basename(archive.rstrip("/")) if archive is not None else None  # a path from `corral list`
    if identity is not None and not identity.is_file():
        raise _usage(f"--identity `{identity}` is not a file (the age secret key, from `age-keygen -o FILE`)")
    logs.setup(None, ())
    try:
        applied = run_restore(config, job, target, Choice(until=until, archive=name), to, storage, force=force,
                              identity=identity)
    except CorralError as error:
        fail(error)
        return
    for path in applied:
        typer.echo(f"applied {path}")
    typer.echo(f"restored `{target}` {f'as of {shown_when(until)}' if until else f'from {name}'} into {to}")
