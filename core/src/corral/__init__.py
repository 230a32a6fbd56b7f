"""corral: backups for servers that host a zoo of web projects.

Plugin authors import from here: the pluggy marker ``hookimpl``, the config bases their schemas extend, and the
types their hooks exchange with the core.
"""

from corral.archive import Archive, DumpFailure, RemoteFile
from corral.config.models import JobOptions, MainOptions, SourceOptions, StorageOptions
from corral.errors import CorralError, DumpError, StorageError, StorageUnreachable
from corral.hookspecs import hookimpl
from corral.run import RunContext
from corral.workarea import full_disk_note

__version__ = "0.1.0"

__all__ = [
    "Archive",
    "CorralError",
    "DumpError",
    "DumpFailure",
    "JobOptions",
    "MainOptions",
    "RemoteFile",
    "RunContext",
    "SourceOptions",
    "StorageError",
    "StorageOptions",
    "StorageUnreachable",
    "__version__",
    "full_disk_note",
    "hookimpl",
]
