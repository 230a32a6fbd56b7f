"""``corral start [JOB|all|files|databases|external] -c MAIN [--verbose | --quiet]``."""

from __future__ import annotations

from typing import Annotated

import typer

from corral.cli.options import DEFAULT_CONFIG, ConfigOption
from corral.errors import CorralError


def start(
    job: Annotated[str, typer.Argument(help="a job name, or all, files, databases, external")] = "all",
    config: ConfigOption = DEFAULT_CONFIG,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="print the whole log and the summary, even under cron")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print nothing; the exit code and the log tell")] = False,
) -> None:
    """Run backups: rotate, dump, store; one run at a time. Exit 0 only when every job succeeded.

    On a terminal it prints the log and a summary table. Under cron (no terminal) it prints nothing when every job
    succeeded, and the errors and the summary when one failed, so that cron mails only the nights that need you.
    """
    from corral import app
    from corral.cli import fail
    from corral.cli.summary import show
    from corral.logs import console_threshold

    if verbose and quiet:
        typer.echo("corral: error: --verbose and --quiet contradict each other; give one", err=True)
        raise typer.Exit(2)
    try:
        code, result = app.start(config, job, console_threshold(verbose, quiet))
    except CorralError as error:
        fail(error)
        return
    if result is not None and not quiet:
        show(result, verbose)
    raise typer.Exit(code)
