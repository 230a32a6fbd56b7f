"""``corral plugins``: what is installed, from which distribution, and whether it loads."""

from __future__ import annotations

import typer


def plugins() -> None:
    """List installed plugins: name, kind, distribution, version (and load errors)."""
    from corral.plugins import list_plugins

    infos = list_plugins()
    if not infos:
        typer.echo("no plugins installed")
    for info in infos:
        status = f"  BROKEN: {info.error}" if info.error else ""
        typer.echo(f"{info.kind:9} {info.name:16} {info.distribution} {info.version}{status}")
    if any(info.error for info in infos):
        raise typer.Exit(1)
