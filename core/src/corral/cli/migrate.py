"""``corral migrate --from FILE --to DIR [--dry-run] [--format 2|3] [--force]``: an nxs-backup configuration turned
into corral's (docs/migrating-from-nxs-backup.md)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from corral.errors import EXIT_OK, EXIT_USAGE


def migrate(
    source: Annotated[Path, typer.Option(
        "--from", metavar="FILE", help="nxs-backup's main file (its includes are followed), or one job file")],
    to_dir: Annotated[Path, typer.Option(
        "--to", metavar="DIR", help="folder for corral.conf, conf.d/ and credentials/")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the files and the report; write nothing")] = False,
    version: Annotated[str | None, typer.Option(
        "--format", metavar="2|3", help="the nxs-backup version (default: told from the file)")] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite DIR/corral.conf and the job files")] = False,
) -> None:
    """Turn an nxs-backup 2.x or 3.x configuration into corral's: a main file, one job file per job, each
    literal password in a 0600 file. Every item that does not map one to one is one line: file:line, decision."""
    from corral.discovery.jobs import shown
    from corral.migrate import plan
    from corral.migrate.load import MigrateError
    from corral.migrate.write import MAIN, render, write

    if version not in (None, "2", "3"):
        typer.echo(f"corral: error: --format {shown(version)}: give 2 or 3", err=True)
        raise typer.Exit(EXIT_USAGE)
    try:
        result = plan(source, to_dir, version)
        read_from = {Path(file).resolve().parent for file in result.files}
        if {to_dir.resolve(), (to_dir / "conf.d").resolve()} & read_from:
            raise MigrateError(f"`{to_dir}` holds the nxs-backup files: write corral's configuration into "
                               "another folder (`--to /etc/corral`)")
        outputs = render(result, source)
        if not dry_run:
            write(result, outputs, to_dir, force)
    except MigrateError as exc:
        typer.echo(f"corral: error: {shown(exc)}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    if dry_run:
        for output in outputs:
            typer.echo(f"# ---- {to_dir / output.name}")
            typer.echo(output.text, nl=False)
    for line in result.lines:
        typer.echo(shown(line))
    main = to_dir / MAIN
    done = "would write" if dry_run else "wrote"
    typer.echo(f"{done} {main} and {len(outputs) - 1} job file(s) in {to_dir / 'conf.d'}/, "
               f"{len(result.secrets)} password file(s) in {to_dir / 'credentials'}/; {len(result.lines)} item(s) "
               f"reported above, {len(result.needs_user)} to do before `corral check` passes")
    if not dry_run:
        typer.echo(f"next: corral check -c {shlex.quote(str(main))}")
    raise typer.Exit(EXIT_OK)
