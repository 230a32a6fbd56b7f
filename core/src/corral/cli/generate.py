"""``corral generate --type T --storage S [S...] --path P``: a commented job template like the article's.

Its first line tells editors where the configuration's JSON Schema is (``corral schema``): yaml-language-server
(VS Code's YAML extension, Neovim's yamlls) then completes and checks every key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from corral.cli.options import DEFAULT_CONFIG
from corral.cli.schema import SCHEMA_FILE
from corral.errors import CorralError


def generate(
    ctx: typer.Context,
    type_: Annotated[str, typer.Option("--type", "-t", help="job type, e.g. desc_files, mysql")],
    storage: Annotated[list[str], typer.Option("--storage", "-s", help="storage names: --storage local scp")],
    path: Annotated[Path | None, typer.Option("--path", "-p", help="file to write (default: stdout)")] = None,
    schema: Annotated[str | None, typer.Option(
        "--schema", metavar="FILE|URL", help=f"the JSON Schema editors check the template with (default: "
        f"{SCHEMA_FILE} beside the main file, $CORRAL_CONFIG or {DEFAULT_CONFIG}; `corral schema` writes it)",
    )] = None,
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
    schema = schema or str(Path(os.environ.get("CORRAL_CONFIG") or DEFAULT_CONFIG).parent / SCHEMA_FILE)
    text = modeline(schema, path) + text
    if path is None:
        typer.echo(text, nl=False)
        return
    try:  # a new file only: never through a symlink, never over an existing file (0600: it will hold passwords)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError as exc:
        said = f"`{path}` exists; remove it" if exc.filename in (None, str(path)) else \
            f"`{exc.filename}` is not a folder"  # a file where a folder of the path should be
        typer.echo(f"corral: error: {said} or choose another --path", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"corral: error: cannot create `{path}`: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    try:
        with open(fd, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:  # a full disk: no half-written template is left to be included
        path.unlink(missing_ok=True)
        typer.echo(f"corral: error: cannot write `{path}`: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {path}")
    if "://" not in schema and not os.path.exists(schema):
        typer.echo(f"corral: note: editors check the template with `{schema}`: write it with "
                   f"`corral schema --output {schema}`", err=True)


def modeline(schema: str, path: Path | None) -> str:
    """yaml-language-server's first line: a URL as given; a file relative to the template's folder when the
    template is a file (yaml-language-server resolves it from there), else absolute; a ``file:`` URL when the
    path holds a space (the line ends at the first one)."""
    if "://" not in schema:
        target = os.path.abspath(schema)
        schema = os.path.relpath(target, os.path.abspath(path.parent)) if path is not None else target
        if any(char.isspace() for char in schema):
            schema = Path(target).as_uri()
    return f"# yaml-language-server: $schema={schema}\n"
