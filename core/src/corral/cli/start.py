"""``corral start [JOB|all|files|databases|external] -c MAIN``."""

from __future__ import annotations

from typing import Annotated

import typer

from corral.cli.options import DEFAULT_CONFIG, ConfigOption
from corral.errors import CorralError


def start(
    job: Annotated[str, typer.Argument(help="a job name, or all, files, databases, external")] = "all",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Run backups: rotate, dump, store; one run at a time. Exit 0 only when every job succeeded."""
    from corral import app
    from corral.cli import fail
    from corral.cli.summary import show

    try:
        code, result = app.start(config, job)
    except CorralError as error:
        fail(error)
        return
    if result is not None:
        show(result)
    raise typer.Exit(code)
