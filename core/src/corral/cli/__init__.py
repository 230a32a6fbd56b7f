"""The ``corral`` command: one module per command, composed here.

Commands import their heavy parts lazily so that ``corral --help`` loads no plugin and no storage library.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

import typer

from corral.cli import (
    check,
    console,
    discover,
    doctor,
    drill,
    generate,
    listing,
    migrate,
    plugins,
    restore,
    schedule,
    schema,
    start,
    verify,
)
from corral.cli.command import adopt
from corral.cli.root import prepare_completion, root
from corral.errors import EXIT_FAILED, EXIT_USAGE, ConfigError, CorralError
from corral.limits import bound_heap

app = typer.Typer(
    name="corral",
    help="Back up files and databases to local and remote storages, as one YAML config describes.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,  # corral.cli.root declares the completion options
    rich_markup_mode=None,  # plain help: rich costs a third of a second at every start-up (docs/cli.md)
)
# short_help: the first sentence of a docstring, when it fits the command list
for name, command, short_help in (
    ("start", start.start, None),
    ("check", check.check, "Validate the configuration and the plugins it needs."),
    ("generate", generate.generate, "Write a commented job template for the installed plugins."),
    ("plugins", plugins.plugins, "List the installed plugins, their distributions and versions."),
    ("schema", schema.schema, "Write the JSON Schema of the configuration, for editors."),
    ("list", listing.list_backups, "Show the backups on each storage, newest first."),
    ("restore", restore.restore, "Restore a target from a backup, into a folder or a server."),
    ("verify", verify.verify, "Check stored archives against their manifests."),
    ("drill", drill.drill, "Test-restore the newest backups into throwaway places."),
    ("doctor", doctor.doctor, "Check what the jobs need on this server before their first run."),
    ("discover", discover.discover, "Find the sites and databases of this server and write their jobs."),
    ("console", console.console, "Serve a web page of every server's backups, from their run records."),
    ("migrate", migrate.migrate, "Turn an nxs-backup 2.x or 3.x configuration into corral's."),
):
    extra = {"allow_extra_args": True} if name == "generate" else None
    app.command(name, short_help=short_help, context_settings=extra)(command)
app.add_typer(schedule.app, name="schedule")
app.callback()(root)
adopt(app)  # every command's help and completion, the schedule group's included (corral.cli.command)


def fail(error: CorralError) -> None:
    from corral.debugging import report

    if not isinstance(error, ConfigError):  # a config's problems say all; a plugin's error may need its traceback
        report(error)
    for line in str(error).splitlines() or [type(error).__name__]:
        print(f"corral: error: {line}", file=sys.stderr)
    raise typer.Exit(error.exit_code)


def main() -> None:
    # pydantic's plugin hook scans every installed distribution's entry points (~20 ms per run); corral uses none
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    os.umask(0o077)  # archives, logs, generated configs: readable by the running user alone
    bound_heap()  # streams' buffers go back to the system when freed
    try:
        prepare_completion()
        app(prog_name="corral")  # also under `python -m corral`: completion's variable is _CORRAL_COMPLETE
    except CorralError as error:  # raised outside a command's own handling
        for line in str(error).splitlines():
            print(f"corral: error: {line}", file=sys.stderr)
        sys.exit(error.exit_code or EXIT_USAGE)
    except Exception as error:  # a bug, of a plugin or of corral: one line that says where; --debug, its traceback
        from corral import logs
        from corral.debugging import explain

        print(f"corral: error: unexpected {logs.masked(explain(error))}", file=sys.stderr)
        sys.exit(EXIT_FAILED)
    except SystemExit as done:
        stuck = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
        if stuck:  # an upload that timed out is still blocked: do not wait for it
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(done.code if isinstance(done.code, int) else 1)
        raise
