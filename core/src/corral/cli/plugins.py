"""``corral plugins [--json]``: what is installed, from which distribution, and whether it loads."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer


def plugins(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document on stdout, for scripts")] = False,
) -> None:
    """List installed plugins: kind, name, distribution, version (and load errors); exit 1 when one is broken."""
    from corral.plugins import list_plugins

    infos = list_plugins()
    if as_json:  # keys: docs/cli.md
        typer.echo(json.dumps({"plugins": [asdict(info) for info in infos]}, indent=2))
    elif not infos:
        typer.echo("no plugins installed")
    else:
        for info in infos:
            status = f"  BROKEN: {info.error}" if info.error else ""
            typer.echo(f"{info.kind:9} {info.name:16} {info.distribution} {info.version}{status}")
    if any(info.error for info in infos):
        raise typer.Exit(1)
