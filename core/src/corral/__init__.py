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
    from corral.archive import (
        Archive,
        DumpFailure,
        DumpResult,
        RemoteFile,
        StreamedArchive,
        archive_name,
        own_backup,
        with_compressions,
    )
    from corral.config.models import (
        CompressedSource,
        DrillCheck,
        JobConfig,
        JobOptions,
        Keys,
        MainOptions,
        SourceOptions,
        SourceSchema,
        StorageConfig,
        StorageOptions,
    )
    from corral.discovery.inventory import Inventory
    from corral.doctoring import Check
    from corral.drilling import DrillReport, DrillRequest, command_check, compare_counts
    from corral.errors import CorralError, DumpError, Interrupted, StorageError, StorageUnreachable
    from corral.hookspecs import hookimpl
    from corral.interrupts import interruptible, shielded
    from corral.piped import Codec, Ended, Exit, Pipe, compressed
    from corral.remote import ModeRefusal, RemoteFileSystem, Retry, ServerBusy
    from corral.restoring import RestoreError, RestoreRequest, decompressor, load
    from corral.run import JobResult, RunContext, RunResult, StorageOutcome, Uncovered, human_size
    from corral.runner import Storage
    from corral.workarea import full_disk_note, new_work_dir, private_dir

__version__ = "0.1.0"

_HOMES = {
    "corral.archive": (
        "Archive",
        "DumpFailure",
        "DumpResult",
        "RemoteFile",
        "StreamedArchive",
        "archive_name",
        "own_backup",
        "with_compressions",
    ),
    "corral.config.models": (
        "CompressedSource",
        "DrillCheck",
        "JobConfig",
        "JobOptions",
        "Keys",
        "MainOptions",
        "SourceOptions",
        "SourceSchema",
        "StorageConfig",
        "StorageOptions",
    ),
    "corral.discovery.inventory": ("Inventory",),
    "corral.doctoring": ("Check",),
    "corral.drilling": ("DrillReport", "DrillRequest", "command_check", "compare_counts"),
    "corral.errors": ("CorralError", "DumpError", "Interrupted", "StorageError", "StorageUnreachable"),
    "corral.hookspecs": ("hookimpl",),
    "corral.interrupts": ("interruptible", "shielded"),
    "corral.piped": ("Codec", "Ended", "Exit", "Pipe", "compressed"),
    "corral.remote": ("ModeRefusal", "RemoteFileSystem", "Retry", "ServerBusy"),
    "corral.restoring": ("RestoreError", "RestoreRequest", "decompressor", "load"),
    "corral.run": ("JobResult", "RunContext", "RunResult", "StorageOutcome", "Uncovered", "human_size"),
    "corral.runner": ("Storage",),
    "corral.workarea": ("full_disk_note", "new_work_dir", "private_dir"),
}
_MODULES = ("doctoring", "targets")
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [  # literal, for linters and type checkers; test_public_names checks it against _HOMES
    "Archive",
    "Check",
    "Codec",
    "CompressedSource",
    "CorralError",
    "DrillCheck",
    "DrillReport",
    "DrillRequest",
    "DumpError",
    "DumpFailure",
    "DumpResult",
    "Ended",
    "Exit",
    "Interrupted",
    "Inventory",
    "JobConfig",
    "JobOptions",
    "JobResult",
    "Keys",
    "MainOptions",
    "ModeRefusal",
    "Pipe",
    "RemoteFile",
    "RemoteFileSystem",
    "RestoreError",
    "RestoreRequest",
    "Retry",
    "RunContext",
    "RunResult",
    "ServerBusy",
    "SourceOptions",
    "SourceSchema",
    "Storage",
    "StorageConfig",
    "StorageError",
    "StorageOptions",
    "StorageOutcome",
    "StorageUnreachable",
    "StreamedArchive",
    "Uncovered",
    "__version__",
    "archive_name",
    "command_check",
    "compare_counts",
    "compressed",
    "decompressor",
    "doctoring",
    "full_disk_note",
    "hookimpl",
    "human_size",
    "interruptible",
    "load",
    "new_work_dir",
    "own_backup",
    "private_dir",
    "shielded",
    "targets",
    "with_compressions",
]


def __getattr__(name: str) -> Any:
    if name in _MODULES:  # modules of helpers: corral.targets.named(...), corral.doctoring.program(...)
        return importlib.import_module(f"corral.{name}")
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'corral' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain lookup
    return value
