"""Coverage: the databases on a source's server, and those the source dumps (``corral_source_inventory``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from corral import DumpError, Inventory, RunContext
from corral_source_postgresql.connection import Server, client_env
from corral_source_postgresql.databases import list_databases
from corral_source_postgresql.options import Connect
from corral_source_postgresql.programs import locate

# the maintenance database every cluster has (`all` leaves it out by default); templates are never listed
SYSTEM_DATABASES = ("postgres",)


def inventory(run: RunContext, connect: Connect, tmp_dir: Path, dumps: Callable[[list[str]], list[str]]) -> Inventory:
    """``pg_database`` (the databases ``all`` would see) with the source's login, minus ``postgres``;
    ``dumps(present)`` says which the source dumps. A server that cannot be listed is an inventory with ``error``."""
    server = Server.from_config(connect)
    found = Inventory(engine="postgresql", server=f"postgresql {server.label.strip('`')}", host=server.host,
                      port=server.port, socket=connect.socket or None)
    try:
        psql = locate("psql")["psql"]
        with client_env(server, tmp_dir) as env:
            present = list_databases(run, psql, server, env)
    except (DumpError, OSError) as exc:
        said = str(exc).removeprefix(f"{server.label}: ")  # the inventory names the server already
        return Inventory(**{**vars(found), "error": f"cannot list the databases: {said}"})
    return Inventory(**{**vars(found), "databases": tuple(db for db in present if db not in SYSTEM_DATABASES),
                        "dumped": tuple(dumps(present))})
