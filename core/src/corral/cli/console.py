"""``corral console [--listen HOST:PORT] [--storage NAME ...] -c MAIN``: the fleet's web page, read from the run
records on the storages (docs/console.md). The pages come from the ``corral-console`` distribution."""

from __future__ import annotations

import signal
import sys
from typing import Annotated

import typer

from corral.cli.options import DEFAULT_CONFIG, ConfigOption
from corral.errors import EXIT_FAILED, EXIT_USAGE, CorralError


def console(
    listen: Annotated[str | None, typer.Option(
        "--listen", "-l", help="HOST:PORT to serve on (default: console.listen, 127.0.0.1:8640)")] = None,
    storage: Annotated[list[str] | None, typer.Option(
        "--storage", "-s", help="read only this storage (its label or kind); repeat for several")] = None,
    hash_password: Annotated[bool, typer.Option(
        "--hash-password", help="read a password (from the terminal or stdin), print its hash for console.users")
    ] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Serve a read-only web page of every server's backups, from the run records on the given storages."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a reload before the console reads on SIGHUP must not end it
    try:
        from corral_console.auth import hash_password as make_hash
        from corral_console.serve import serve
    except ImportError:
        typer.echo("corral: error: corral console needs the corral-console distribution: pip install "
                   "corral-console (from a clone: pip install ./console)", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    if hash_password:
        typer.echo(make_hash(_read_password()))
        return
    from corral import logs
    from corral.cli import fail
    from corral.config import load_config

    try:
        loaded = load_config(config, partial=True)
        logs.setup(None, loaded.secrets)
        serve(loaded, listen, storage or [])
    except CorralError as error:
        fail(error)
    except OSError as exc:  # the port is taken, the address is not this machine's
        typer.echo(f"corral: error: console: {exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None


def _read_password() -> str:
    """Twice from a terminal without echo; one line from a pipe."""
    import getpass

    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Again: "):
            typer.echo("corral: error: the passwords differ", err=True)
            raise typer.Exit(EXIT_USAGE)
    else:
        first = sys.stdin.readline().rstrip("\r\n")
    if len(first) < 8:
        typer.echo("corral: error: a console password has at least 8 characters", err=True)
        raise typer.Exit(EXIT_USAGE)
    return first
