"""What discovery finds: sites from the web servers' configuration, projects and their databases."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Site:
    """One virtual host: ``server`` (``nginx`` or ``apache``), its names (``server_name``; ``ServerName`` then
    ``ServerAlias``), its document root, where it was declared (file and line) and whether the server serves it
    (a site under ``sites-available`` with no link in ``sites-enabled`` is not enabled)."""

    server: str
    names: tuple[str, ...]
    document_root: Path
    declared_in: Path
    line: int
    enabled: bool = True


@dataclass(frozen=True)
class Database:
    """A database an application uses, as its configuration says. ``engine``: ``mysql`` or ``postgresql``;
    ``host`` may be ``localhost`` with ``socket`` set; ``password`` is a secret: never logged or printed."""

    engine: str
    name: str
    host: str = "localhost"
    port: int | None = None
    socket: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    read_from: Path | None = None

    @property
    def server_key(self) -> tuple[str, str, int | None, str | None]:
        """The database server (engine, host, port, socket): one generated job per server."""
        return (self.engine, self.host, self.port, self.socket)


@dataclass(frozen=True)
class Project:
    """A project root and what it is: ``kind`` is ``bitrix``, ``wordpress``, ``laravel``, ``symfony``,
    ``drupal``, ``joomla``, ``dotenv`` (a plain ``.env`` with ``DATABASE_URL``) or ``plain`` (files only).
    ``excludes``: the kind's cache folders, relative to ``root``. ``problems``: one line each (an unreadable or
    unparsable settings file, named with its path: never guessed around)."""

    kind: str
    root: Path
    excludes: tuple[str, ...] = ()
    databases: tuple[Database, ...] = ()
    problems: tuple[str, ...] = ()
