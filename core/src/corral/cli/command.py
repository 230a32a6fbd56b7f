"""The class of every ``corral`` command: plain help without typer's type labels, and shell completion.

typer's help puts a type label after each parameter (``--force <bool>``, ``job <str>``, ``--to <path>``) and
braces around required arguments in the usage line (``{job}``). Here a parameter shows as the command line is
typed: an argument by its name in capitals (``JOB``, ``[JOB]`` when optional), an option taking a value by its
long name (``--target TARGET``) or what it is (``--to DIR``) unless it sets its own ``metavar``, a flag alone.

Completion is given by parameter name, so that every command completes alike without each repeating it: a
``job`` argument completes the configuration's job names (and, where it may select several, ``all``, ``files``,
``databases``, ``external``), a ``--target`` option the targets of the chosen job, a ``--storage`` option its
storages (:mod:`corral.cli.complete`).
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

from corral.cli import complete

_SECTIONS = {"argument": "Arguments", "option": "Options"}
# what an option's value is, where its long name does not say it (docs/restore.md's synopsis uses the same words)
_METAVARS = {"to": "DIR", "into": "SERVER", "as": "NAME", "date": "WHEN", "archive": "NAME", "identity": "KEY",
             "config": "FILE", "path": "FILE", "at": "HH:MM"}


class _FalseHelpFlag:
    """The ``--help`` flag defaults to False: typer coerces a flag's None (not given) through a pydantic adapter,
    and importing pydantic made every ``corral COMMAND --help`` 0.2 s slower."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None and option.default is None:
            option.default = False
        return option


class CorralGroup(_FalseHelpFlag, TyperGroup):
    pass


class CorralCommand(_FalseHelpFlag, TyperCommand):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if param.param_type_name == "argument" and param.metavar is None:
                param.metavar = (param.name or "").upper()
            elif isinstance(param, TyperOption) and not param.is_flag and param.metavar is None:
                long = ([opt for opt in param.opts if opt.startswith("--")] or param.opts)[0].lstrip("-")
                param.metavar = _METAVARS.get(long, long.replace("-", "_").upper())
            completer = complete.COMPLETERS.get((param.param_type_name, param.name))
            if completer is not None and getattr(param, "_custom_shell_complete", None) is None:
                param._custom_shell_complete = completer  # what click's shell_complete= sets

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta[complete.ARGS_KEY] = list(args)  # for completion: see corral.cli.complete.chosen_job
        if not ctx.resilient_parsing:
            return super().parse_args(ctx, args)
        # completing: the words as given (or the environment's, or the defaults) are all the completers read;
        # typer's coercion of each value would import pydantic and double the time of every Tab
        parser = self.make_parser(ctx)
        opts, rest, _ = parser.parse_args(args=list(args))
        for param in self.get_params(ctx):
            if param.expose_value and param.name:
                ctx.params[param.name] = param.consume_value(ctx, opts)[0]
        ctx.args = rest
        ctx._opt_prefixes.update(parser._opt_prefixes)  # as click's parse_args: option names start with these
        return rest

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = f"{param.metavar}..." if param.nargs != 1 else str(param.metavar)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        rows: dict[str, list[tuple[str, str]]] = {kind: [] for kind in _SECTIONS}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None or param.param_type_name not in rows:
                continue
            if param.param_type_name == "argument":  # typer appends the type to the name: show the name alone
                record = (str(param.metavar), record[1])
            rows[param.param_type_name].append(record)
        for kind, title in _SECTIONS.items():
            if rows[kind]:
                with formatter.section(title):
                    formatter.write_dl(rows[kind])


def adopt(app: typer.Typer) -> None:
    """Make every command of ``app`` and of its groups (``corral schedule ...``) a :class:`CorralCommand`, and
    the groups :class:`CorralGroup`."""
    if not isinstance(app.info.cls, type):
        app.info.cls = CorralGroup
    for info in app.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = CorralCommand
    for group in app.registered_groups:
        if not isinstance(group.cls, type):
            group.cls = CorralGroup
        if group.typer_instance is not None:
            adopt(group.typer_instance)
