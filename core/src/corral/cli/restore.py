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
    target: Annotated[str, typer.Option(
        "--target", "-t", help="what to restore: a target as `corral list` shows it, a database name, or a file "
        "job's source path")],
    to: Annotated[str | None, typer.Option(
        "--to", help="folder to restore into (files, a fetched dump, a data directory); must be empty or new "
        "unless --force. Without it a database is restored into a server (--into)")] = None,
    into: Annotated[str | None, typer.Option(
        "--into", help="the server to restore a database into, as the type's client takes it (docs/restore.md); "
        "default: the job's own source server. No password here: the job's, or the client's own files")] = None,
    as_name: Annotated[str | None, typer.Option(
        "--as", help="the database name to restore as (default: the original name)")] = None,
    date: Annotated[str | None, typer.Option(
        "--date", "-d", help="YYYY-MM-DD (the end of that day) or YYYY-MM-DD HH:MM[:SS]: the newest archive made "
        "at or before then (default: the newest)")] = None,
    archive: Annotated[str | None, typer.Option(
        "--archive", "-a", help="one stored archive's file name, as `corral list` shows it; for inc_files its "
        "chain up to and including it")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="restore over what is there: files of the same name are overwritten (an inc_files restore "
        "deletes, inside the target's folder, what the backup did not have); a database that holds tables or keys "
        "is replaced")] = False,
    with_globals: Annotated[bool, typer.Option(
        "--with-globals", help="postgresql: also restore the roles and tablespaces (the globals archive)")] = False,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", min=1, max=64, help="postgresql: parallel restore jobs (pg_restore -j)")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", "-n", help="say what would be restored from where into where; change nothing")] = False,
    storage: Annotated[
        str | None, typer.Option("--storage", "-s", help="storage name (default: the first with backups)")
    ] = None,
    identity: Annotated[Path | None, typer.Option(
        "--identity", "-i", help="age secret key file: decrypt encrypted archives (`encrypt:`) on the way")] = None,
    no_verify: Annotated[bool, typer.Option(
        "--no-verify", help="restore even an archive that is not what its manifest recorded (damaged or replaced): "
        "by default its size and SHA-256 must match or the restore stops")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Restore a target as it was at a moment (--date), from one archive (--archive) or from the newest: extract
    file archives (applying incremental chains) into --to, load a database into a server (--into, --as), or fetch
    an archive for its standard tool. Prints one line per step; --dry-run prints the plan."""
    from corral import logs
    from corral.cli import fail
    from corral.restore import Choice
    from corral.restore import restore as run_restore
    from corral.restore import when as shown_when

    if date is not None and archive is not None:
        raise _usage("give --date or --archive, not both")
    until = None
    if date is not None:
        until = parse_when(date)
        if until is None:
            raise _usage(f"--date `{date}` is not a date like 2026-07-24 or a time like 2026-07-24 09:00")
    name = posixpath.basename(archive.rstrip("/")) if archive is not None else None  # a path from `corral list`
    if identity is not None and not identity.is_file():
        raise _usage(f"--identity `{identity}` is not a file (the age secret key, from `age-keygen -o FILE`)")
    if to is not None and not to.strip():  # an unset variable (`--to "$DEST" --force`): not the current folder
        raise _usage(f"--to {to!r} names no folder: give the folder to restore into (`.` for the current one)")
    if to is not None and (into is not None or as_name is not None):
        raise _usage("--to restores into a folder; --into and --as name a server and a database: give one kind")
    logs.setup(None, ())
    options = {"with_globals": with_globals, "jobs": jobs}
    try:
        dest = Path(to) if to is not None else None
        done = run_restore(config, job, target, Choice(until=until, archive=name), dest, storage, force=force,
                           identity=identity, into=into, as_name=as_name, dry_run=dry_run, options=options,
                           say=typer.echo, verify=not no_verify)
    except CorralError as error:
        fail(error)
        return
    if dry_run:
        typer.echo("dry run: nothing was changed")
        return
    moment = f"as of {shown_when(until)}" if until else f"from {name}" if name else "from the newest backup"
    if done.restored:
        where = f"into {to}" if to is not None else f"into {into or 'the source server'}"
        typer.echo(f"restored `{target}` {moment} {where}")
    else:
        typer.echo(f"fetched, not restored: `{target}` {moment} is in {to}; restore it with its standard tool "
                   "(docs/restore.md)")
