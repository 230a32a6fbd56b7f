"""The options of ``corral`` itself: ``--version``, ``--debug``, ``--install-completion``, ``--show-completion``.

The completion options work as typer's own (its shell detection, its scripts and files for bash and zsh), with
two changes: they are plain flags (typer's ``add_completion`` declares them with no default, and typer then
coerces that None through a pydantic adapter on every run, which imported pydantic, 0.15 s, for ``corral list
--help`` too), and the zsh file installed in ``~/.zfunc`` completes from the first Tab of a new shell.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer


def show_version(value: bool) -> None:
    """Print the core's version and each plugin distribution's, and exit; metadata is read only here."""
    if not value:
        return
    from corral import __version__
    from corral.plugins import distributions

    typer.echo(f"corral {__version__}")
    for name, version in distributions().items():
        typer.echo(f"{name} {version}")
    raise typer.Exit(0)


def _install(ctx: typer.Context, param: typer.CallbackParam, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from typer.completion import get_completion_script, install

    shell, path = install()  # typer's: detects the shell, writes the script and the line of ~/.bashrc or ~/.zshrc
    if shell == "zsh":
        path.write_text(_autoloadable(get_completion_script(prog_name="corral", complete_var="_CORRAL_COMPLETE",
                                                            shell="zsh")))
    typer.echo(f"{shell} completion installed in {path}; it takes effect in a new shell")
    raise typer.Exit(0)


def _autoloadable(script: str) -> str:
    """typer's zsh script, made to complete when zsh runs it as the function ``_corral`` autoloaded from
    ``~/.zfunc``: as typer writes it, each such run only registers ``_corral_completion``, so the first Tab of
    every new shell completed nothing. Sourced (``source ~/.zfunc/_corral``), it still registers."""
    register = "compdef _corral_completion corral"
    return script.replace(register, "if [[ $zsh_eval_context[-1] == file ]]; then\n"
                          f"  {register}\n"
                          "else\n"
                          '  _corral_completion "$@"  # run as _corral, on a Tab\n'
                          "fi") + "\n"


def _show(ctx: typer.Context, param: typer.CallbackParam, value: bool) -> None:
    from typer.completion import show_callback

    show_callback(ctx, param, value)


def root(
    version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=show_version, help="Show the versions of corral and its plugins."
    )] = False,
    install: Annotated[bool, typer.Option(
        "--install-completion", callback=_install, expose_value=False,
        help="Install completion of commands, job names and targets for the current shell (bash, zsh).")] = False,
    show: Annotated[bool, typer.Option(
        "--show-completion", callback=_show, expose_value=False,
        help="Show the completion script for the current shell, to install it by hand.")] = False,
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show the traceback of every error, a plugin's bug included (also: CORRAL_DEBUG=1).")] = False,
) -> None:
    """Back up files and databases to local and remote storages, as one YAML config describes."""
    if debug:
        from corral.debugging import enable

        enable()


def prepare_completion(prog_name: str = "corral") -> None:
    """Register typer's completion protocol (``complete_bash``, ``complete_zsh``) when the shell asks for one."""
    if os.environ.get(f"_{prog_name.upper()}_COMPLETE"):
        from typer.completion import completion_init

        completion_init()
