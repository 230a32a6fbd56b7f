"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from corral.config import Config

DEFAULT_CONFIG = Path("/etc/corral/corral.conf")

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="main configuration file", envvar="CORRAL_CONFIG", show_default=True),
]


def load_selected(config: Path, job: str) -> tuple[Config, set[str]]:
    """The configuration and the names of the jobs ``job`` selects, for commands that read the storages; a
    problem is one line and its exit code. Logs reach stderr masked (a storage's retried connection)."""
    from corral import logs
    from corral.cli import fail
    from corral.config import load_config
    from corral.errors import CorralError
    from corral.runner import select_jobs

    try:
        loaded = load_config(config)
        names = set(select_jobs(loaded, job))
    except CorralError as error:
        fail(error)
        raise
    logs.setup(None, loaded.secrets)
    return loaded, names
