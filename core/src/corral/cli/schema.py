"""``corral schema [--output FILE]``: the JSON Schema of the configuration for the installed plugins, for editors."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from corral.errors import EXIT_FAILED, EXIT_USAGE, CorralError

SCHEMA_FILE = "corral.schema.json"  # beside the main file, where `corral generate` points editors by default


def schema(
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="FILE", help="file to write (replaced whole, mode 0600; default: stdout)",
    )] = None,
) -> None:
    """Write the JSON Schema of the configuration for the installed plugins, with which editors complete and check
    every key; exit 1 when a plugin could not be described (its type is then refused)."""
    from corral.cli import fail
    from corral.config.schema import config_schema, dumps

    problems: list[str] = []
    try:
        text = dumps(config_schema(problems.append))
    except CorralError as error:
        fail(error)
        return
    for problem in problems:
        typer.echo(f"corral: error: {problem}", err=True)
    if output is None:
        typer.echo(text, nl=False)
    else:
        _replace(output, text)
        typer.echo(f"wrote {output}")
    if problems:
        raise typer.Exit(EXIT_FAILED)


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to a new file beside ``path`` (0600), then rename it over ``path``: an editor never reads
    half a schema, and a symlink planted at ``path`` is replaced, never written through."""
    temp = None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600, O_EXCL
        with open(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.rename(temp, path)
    except OSError as exc:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)
        where = exc.filename if exc.filename not in (None, temp) else path
        typer.echo(f"corral: error: cannot write `{where}`: {exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
