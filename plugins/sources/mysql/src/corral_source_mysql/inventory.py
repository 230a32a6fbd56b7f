"""Coverage: the databases on a source's server, and those the source dumps (``corral_source_inventory``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from corral import DumpError, Inventory, RunContext
from corral_source_mysql import client, tools
from corral_source_mysql.optionfile import option_file
from corral_source_mysql.options import SYSTEM_DATABASES, Connect


def inventory(run: RunContext, connect: Connect, tmp_dir: Path, dumps: Callable[[list[str]], list[str]]) -> Inventory:
    """``SHOW DATABASES`` with the source's login, minus the system schemas; ``dumps(present)`` says which of the
    server's databases the source dumps. A server that cannot be listed is an inventory with ``error``."""
    where = connect.where()
    server = Inventory(engine="mysql", server=f"mysql {where}", host=connect.db_host, port=connect.db_port,
                       socket=str(connect.socket) if connect.socket is not None else None)
    try:
        program = tools.find(tools.CLIENTS, apt="mariadb-client")
        with option_file(tmp_dir, connect) as options:
            present = client.databases(run, program, options)
    except (client.SQLError, DumpError, OSError) as exc:
        return _failed(server, f"cannot list the databases: {exc}")
    return Inventory(**{**vars(server), "databases": tuple(db for db in present if db not in SYSTEM_DATABASES),
                        "dumped": tuple(dumps(present))})


def _failed(server: Inventory, error: str) -> Inventory:
    return Inventory(**{**vars(server), "error": error})
