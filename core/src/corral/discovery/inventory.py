"""What a database source's server holds, as its plugin lists it for coverage (``corral_source_inventory``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_PORTS = {"mysql": 3306, "postgresql": 5432}
_LOCAL_HOSTS = ("", "localhost", "127.0.0.1", "::1", "[::1]")


@dataclass(frozen=True)
class Inventory:
    """One database source's server and its databases: the answer of ``corral_source_inventory``.

    ``engine`` is ``mysql`` or ``postgresql`` (as :class:`corral.discovery.model.Database` names it); ``host``,
    ``port`` and ``socket`` are the server as the source reaches it (None: the client's default); ``server`` names
    it in messages, without a password. ``databases``: every database on the server but the system ones;
    ``dumped``: those the source dumps by its own rules (named targets, ``all`` minus ``excludes``). ``error``:
    why the databases could not be listed (one line, no secret); ``databases`` and ``dumped`` are then empty.
    """

    engine: str
    server: str
    host: str | None = None
    port: int | None = None
    socket: str | None = None
    databases: tuple[str, ...] = ()
    dumped: tuple[str, ...] = ()
    error: str | None = None

    @staticmethod
    def dumped_by(select: Callable[[list[str], list[str], list[str]], tuple[list[str], list[str]]],
                  target: list[str], excludes: list[str]) -> Callable[[list[str]], list[str]]:
        """What a source dumps of the databases present, by the type's own ``select(target, excludes, present)``
        (its dump's: chosen databases, missing names): both, since a missing name is the dump's failure."""

        def dumped(present: list[str]) -> list[str]:
            chosen, missing = select(target, excludes, present)
            return [*chosen, *missing]

        return dumped

    @property
    def key(self) -> tuple[str, str, int]:
        """The server, as coverage matches it with what an application's settings name (:func:`server_key`)."""
        return server_key(self.engine, self.host, self.port)


def server_key(engine: str, host: str | None, port: int | None) -> tuple[str, str, int]:
    """``(engine, host, port)`` with every way of naming this machine as ``local``: ``localhost``, ``127.0.0.1``,
    ``::1``, a Unix socket (a path) or nothing at all reach the same local server on the engine's default port
    unless a port is given."""
    name = (host or "").strip().lower()
    local = name in _LOCAL_HOSTS or name.startswith("/")
    return engine, "local" if local else name, port or DEFAULT_PORTS.get(engine, 0)
