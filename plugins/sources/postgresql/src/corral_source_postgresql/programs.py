"""Finding the client programs: on PATH, and past Debian's pg_wrapper straight to the newest installed version.

On Debian and Ubuntu, /usr/bin/pg_dump and friends are links to pg_wrapper, a Perl script that picks a version
for each call (the newest for a remote server). Starting Perl costs 0.1-0.3 s a call, paid per database; the
newest version is also the right choice for dumps (pg_dump and pg_basebackup read older servers, never newer
ones), so corral calls it directly.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from corral import DumpError

DEBIAN_VERSIONS = Path("/usr/lib/postgresql")
_PACKAGES = {"zstd": "zstd", "pigz": "pigz", "gzip": "gzip", "tar": "tar"}


def locate(*names: str) -> dict[str, str]:
    """Each program's path; fails the source in one line naming the first one that is missing."""
    found = {}
    for name in names:
        path = shutil.which(name)
        if path is None:
            package = _PACKAGES.get(name, "postgresql-client")
            raise DumpError(f"`{name}` is not installed (apt install {package})")
        found[name] = _past_wrapper(name, path)
    return found


def _past_wrapper(name: str, path: str) -> str:
    if os.path.basename(os.path.realpath(path)) != "pg_wrapper":
        return path
    versions = []
    for candidate in DEBIAN_VERSIONS.glob(f"*/bin/{name}"):
        version = candidate.parent.parent.name
        if version.replace(".", "").isdigit() and os.access(candidate, os.X_OK):
            versions.append((tuple(int(part) for part in version.split(".")), str(candidate)))
    return max(versions)[1] if versions else path
