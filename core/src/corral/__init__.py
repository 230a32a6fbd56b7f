"""corral: backups for servers that host a zoo of web projects.

Plugin authors import from here: the pluggy marker ``hookimpl``, the config bases their schemas extend, and the
types their hooks exchange with the core.

Each name is imported on first use (PEP 562), so that ``corral --help`` and shell completion, which import the
package, do not pay for pydantic and the run machinery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from corral.archive import Archive, DumpFailure, RemoteFile
    from corral.config.models import JobOptions, MainOptions, SourceOptions, StorageOptions
    from corral.errors import CorralError, DumpError, StorageError, StorageUnreachable
    from corral.hookspecs import hookimpl
    from corral.piped import Codec, Pipe, compressed
    from corral.run import RunContext
    from corral.workarea import full_disk_note

__version__ = "0.1.0"

_HOMES = {
    "corral.archive": ("Archive", "DumpFailure", "RemoteFile"),
    "corral.config.models": ("JobOptions", "MainOptions", "SourceOptions", "StorageOptions"),
    "corral.errors": ("CorralError", "DumpError", "StorageError", "StorageUnreachable"),
    "corral.hookspecs": ("hookimpl",),
    "corral.piped": ("Codec", "Pipe", "compressed"),
    "corral.run": ("RunContext",),
    "corral.workarea": ("full_disk_note",),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [  # literal, for linters and type checkers; test_public_names checks it against _HOMES
    "Archive",
    "Codec",
    "CorralError",
    "DumpError",
    "DumpFailure",
    "JobOptions",
    "MainOptions",
    "Pipe",
    "RemoteFile",
    "RunContext",
    "SourceOptions",
    "StorageError",
    "StorageOptions",
    "StorageUnreachable",
    "__version__",
    "compressed",
    "full_disk_note",
    "hookimpl",
]


def __getattr__(name: str) -> Any:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'corral' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain lookup
    return value
