"""``corral generate --type T --storage S [S...] --path P``: a commented job template like the article's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from corral.errors import CorralError


def generate(
    ctx: typer.Context,
    type_: Annotated[str, typer.Option("--type", "-t", help="job type, e.g. desc_files, mysql")],
    storage: Annotated[list[str], typer.Option("--storage", "-s", help="storage names: --storage local scp")],
    path: Annotated[Path | None, typer.Option("--path", "-p", help="file to write (default: stdout)")] = None,
) -> None:
    """Write a job template for the installed plugins' keys, to fill in and include from the main file."""
    from corral.cli import fail
    from corral.generate import job_template

    storages = [*storage, *(arg for arg in ctx.args if not arg.startswith("-"))]
    try:
        text = job_template(type_, storages)
    except CorralError as error:
        fail(error)
        return
    if path is None:
        typer.echo(text, nl=False)
        return
    if path.exists():
        typer.echo(f"corral: error: `{path}` exists; remove it or choose another --path", err=True)
        raise typer.Exit(2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    typer.echo(f"wrote {path}")
