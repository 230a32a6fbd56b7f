"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_CONFIG = Path("/etc/corral/corral.conf")

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="main configuration file", envvar="CORRAL_CONFIG", show_default=True),
]
