"""Connecting with pymongo, and turning its errors into one line a person can act on.

The password goes to pymongo in memory: it never reaches a process argument, a file or a message.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pymongo
import yaml
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError, ServerSelectionTimeoutError

from corral import DumpError
from corral_source_mongodb.options import MongoConnect

TIMEOUT_MS = 10_000
_AUTH_FAILED = 18
_UNAUTHORIZED = 13


def read_auth_file(path: Path) -> str:
    """The ``password`` of a YAML file in mongodump's ``--config`` format, taken literally (``0123`` stays text)."""
    try:
        data = yaml.load(path.read_text(), Loader=yaml.BaseLoader)
    except OSError as exc:
        raise DumpError(f"cannot read auth_file `{path}`: {exc.strerror}") from None
    except yaml.YAMLError:
        raise DumpError(f"auth_file `{path}` is not YAML (expected `password: ...`)") from None
    password = data.get("password") if isinstance(data, dict) else None
    if not isinstance(password, str) or password == "":
        raise DumpError(f"auth_file `{path}` has no `password:` key")
    return password


def check_reachable(connect: MongoConnect) -> None:
    """Fail at once on a refused or unresolvable address (pymongo would retry until its timeout)."""
    try:
        socket.create_connection((connect.db_host, connect.db_port), timeout=TIMEOUT_MS / 1000).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise DumpError(f"cannot connect to {connect.db_host}:{connect.db_port}: {reason}") from None


def open_client(connect: MongoConnect) -> pymongo.MongoClient[Any]:
    """A client for exactly this server (``directConnection``: a replica set member is read where it stands)."""
    check_reachable(connect)
    kwargs: dict[str, Any] = {
        "host": connect.db_host, "port": connect.db_port, "directConnection": True, "appname": "corral",
        "serverSelectionTimeoutMS": TIMEOUT_MS, "connectTimeoutMS": TIMEOUT_MS,
    }  # fmt: skip
    if connect.db_user:
        password = (connect.db_password.get_secret_value() if connect.db_password is not None
                    else read_auth_file(connect.auth_file) if connect.auth_file is not None else None)
        kwargs.update(username=connect.db_user, authSource=connect.auth_db)
        if password is not None:
            kwargs["password"] = password
    return pymongo.MongoClient(**kwargs)


def explain(exc: BaseException, connect: MongoConnect) -> str:
    """A one-line cause for a pymongo error (pymongo's own messages span lines and dump server replies)."""
    where = f"{connect.db_host}:{connect.db_port}"
    if isinstance(exc, OperationFailure):
        if exc.code == _AUTH_FAILED:
            return f"authentication failed for user `{connect.db_user}` (auth_db `{connect.auth_db}`) on {where}"
        if exc.code == _UNAUTHORIZED:
            return f"user `{connect.db_user}` is not allowed to do this on {where}: {_first_line(exc.details)}"
        return f"server {where} refused: {_first_line(exc.details) or _first_line(str(exc))}"
    if isinstance(exc, ServerSelectionTimeoutError):
        reason = str(exc).split(" (configured timeouts", 1)[0].split(", Timeout:", 1)[0]
        return f"cannot connect to {where}: {reason.removeprefix(where + ': ')}"
    if isinstance(exc, ConnectionFailure):
        return f"connection to {where} lost: {_first_line(str(exc))}"
    if isinstance(exc, PyMongoError):
        return f"{type(exc).__name__} from {where}: {_first_line(str(exc))}"
    return _first_line(str(exc)) or type(exc).__name__


def _first_line(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("errmsg", "")
    lines = str(value or "").strip().splitlines()
    return lines[0] if lines else ""
