"""What a migration makes: the main settings, the jobs, the passwords to put in files, and one line per item that
does not map one to one (``FILE:LINE: decision``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_URL_PASSWORD = re.compile(r"(://[^/@:\s]*):[^@\s]*@")  # a URL's `user:password@`, never in a report line


@dataclass
class Job:
    """One corral job: its keys in the order they are written, and where nxs-backup declared it."""

    name: str
    data: dict[str, Any]
    where: str


@dataclass
class Plan:
    """A migration's result. ``secrets`` maps a file name of the credentials folder to the password it holds;
    ``needs_user`` the report lines the migrated configuration cannot pass ``corral check`` without."""

    main: dict[str, Any] = field(default_factory=dict)
    jobs: list[Job] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    lines: list[str] = field(default_factory=list)
    needs_user: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # every nxs-backup file read
    version: str = ""
    once: set[str] = field(default_factory=set)  # reports made once per migration
    to_dir: Path = Path("/etc/corral")  # where the configuration is written (known_hosts goes there)

    def note(self, where: str, decision: str, *, user: bool = False) -> None:
        """Report an item that does not map one to one; ``user``: the user must act before ``corral check``
        passes."""
        line = _URL_PASSWORD.sub(r"\1:***@", f"{where}: {decision}")
        self.lines.append(line)
        if user:
            self.needs_user.append(line)
