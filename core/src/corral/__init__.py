"""corral: backups for servers that host a zoo of web projects.

Plugin authors import from here: the pluggy marker ``hookimpl``, the config bases their schemas extend, and the
types their hooks exchange with the core.
"""

from corral.archive import Archive, DumpFailure, RemoteFile
from corral.config.models import JobOptions, MainOptions, SourceOptions, StorageOptions
from corral.errors import CorralError, DumpError, StorageError, StorageUnreachable
from corral.hookspecs import hookimpl
from corral.piped import Codec, Pipe, compressed
from corral.run import RunContext
from corral.workarea import full_disk_note

__version__ = "0.1.0"

__all__ = [
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
