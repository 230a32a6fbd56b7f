"""``corral generate --type T --storage S [S...] --path P``: a commented job template like the article's."""

from __future__ import annotations

import os
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
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:  # a new file only: never through a symlink, never over an existing file (0600: it will hold passwords)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        typer.echo(f"corral: error: `{path}` exists; remove it or choose another --path", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"corral: error: cannot create `{path}`: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    with open(fd, "w", encoding="utf-8") as out:
        out.write(text)
    typer.echo(f"wrote {path}")
