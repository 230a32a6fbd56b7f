"""``corral check -c MAIN``: validate the whole configuration without running anything."""

from __future__ import annotations

import typer

from corral.cli.options import DEFAULT_CONFIG, ConfigOption
from corral.errors import CorralError


def check(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Validate the configuration and the plugins it needs; exit 2 on any problem."""
    from corral.cli import fail
    from corral.config import load_config

    try:
        loaded = load_config(config)
    except CorralError as error:
        fail(error)
        return
    for warning in loaded.warnings:
        typer.echo(f"corral: warning: {warning}", err=True)
    from corral.workarea import preflight

    refused = preflight(loaded.main, loaded.jobs)  # what `corral start` would refuse, found without creating it
    for problem in refused:
        typer.echo(f"corral: error: {config}: {problem}", err=True)
    if refused:
        raise typer.Exit(2)
    for name, problems in loaded.unavailable.items():
        for problem in problems:
            typer.echo(f"corral: error: job `{name}` cannot run: {problem}", err=True)
    if loaded.unavailable:
        raise typer.Exit(1)
    typer.echo(f"{config}: ok ({len(loaded.jobs)} job(s))")
