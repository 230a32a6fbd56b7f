"""The ``corral`` command: one module per command, composed here.

Commands import their heavy parts lazily so that ``corral --help`` loads no plugin and no storage library.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

import typer

from corral.cli import check, drill, generate, listing, plugins, restore, schedule, start, verify
from corral.errors import EXIT_USAGE, CorralError
from corral.limits import bound_heap

app = typer.Typer(
    name="corral",
    help="Back up files and databases to local and remote storages, as one YAML config describes.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
app.command("start")(start.start)
app.command("check")(check.check)
app.command("generate", context_settings={"allow_extra_args": True})(generate.generate)
app.command("plugins")(plugins.plugins)
app.command("list")(listing.list_backups)
app.command("restore")(restore.restore)
app.command("verify")(verify.verify)
app.command("drill")(drill.drill)
app.add_typer(schedule.app, name="schedule")


def fail(error: CorralError) -> None:
    for line in str(error).splitlines() or [type(error).__name__]:
        print(f"corral: error: {line}", file=sys.stderr)
    raise typer.Exit(error.exit_code)


def main() -> None:
    # pydantic's plugin hook scans every installed distribution's entry points (~20 ms per run); corral uses none
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    os.umask(0o077)  # archives, logs, generated configs: readable by the running user alone
    bound_heap()  # streams' buffers go back to the system when freed
    try:
        app()
    except CorralError as error:  # raised outside a command's own handling
        for line in str(error).splitlines():
            print(f"corral: error: {line}", file=sys.stderr)
        sys.exit(error.exit_code or EXIT_USAGE)
    except SystemExit as done:
        stuck = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
        if stuck:  # an upload that timed out is still blocked: do not wait for it
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(done.code if isinstance(done.code, int) else 1)
        raise
