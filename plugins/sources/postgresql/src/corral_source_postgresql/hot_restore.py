"""``corral restore --to DIR`` of a ``postgresql_hot`` job: the base backup becomes a data directory that
``postgres -D DIR`` starts.

The stored tar is read as a stream, member by member (no copy of it on local disk): ``base.tar.*`` is extracted
into DIR, ``pg_wal.tar.*`` into DIR/pg_wal, each ``OID.tar.*`` (an extra tablespace) into ``DIR.tablespaces/OID``
with ``tablespace_map`` pointing there, ``backup_manifest`` beside the data. ``DIR.tablespaces`` is created by the
restore (0700; one that exists, a link included, is refused: another local user may have put it there), and DIR
must be empty, ``--force`` or not: everything below DIR and ``DIR.tablespaces`` is handed to ``postgres`` (as
root), which must not take files that were there before. No recovery.signal: the backup was
taken with ``--wal-method=stream``, so the WAL from the backup's checkpoint to its end is in pg_wal, and
PostgreSQL replays it at start (``backup_label``) and opens at the moment the backup ended.

What the archive cannot do (it may have been altered on the storage): unpack ``pg_wal.tar`` through a ``pg_wal``
that ``base.tar`` made a symbolic link, make corral write ``tablespace_map`` or ``backup_manifest`` through a
link (or fail on a folder in their place), or leave a device node, fifo or socket (pg_basebackup writes none; as
root tar would create a device node and corral would hand it to the postgres user). Symbolic links themselves
are kept (``pg_tblspc`` holds them); the drill allows only its own tablespaces' (:mod:`.defused`).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from corral import RestoreError, RestoreRequest, RunContext, human_size, load

OWNER = "postgres"
_TABLESPACE = re.compile(r"^(\d+)\.tar(\.\w+)?$")


def restore_hot(storage: Any, run: RunContext, request: RestoreRequest) -> list[str]:
    dest = request.to
    if dest is None:
        raise RestoreError("a physical backup is restored into a folder: give --to DIR")
    path = request.archive.path
    spaces = tablespaces_of(dest)
    if dest.is_dir() and any(dest.iterdir()):  # only with --force: the core refuses it otherwise
        raise RestoreError(f"`{dest}` is not empty: a base backup is restored into an empty folder only, --force or "
                           f"not (its files would become {_owner_name()}'s); move them away or give another --to")
    if request.dry_run:
        request.say(f"would extract `{path}` ({human_size(request.archive.size)}) into the data directory "
                    f"`{dest}` (base, pg_wal; extra tablespaces into a new `{spaces}`), owned by {_owner_name()}, "
                    "mode 0700")
        return [path]
    dest.chmod(0o700)
    stream = storage.open_read(path)
    tablespaces: dict[str, Path] = {}
    try:
        with tarfile.open(fileobj=stream, mode="r|") as outer:
            for member in outer:
                _member(run, outer, member, dest, spaces, tablespaces, request)
        while stream.read(1 << 20):  # the padding after tar's end: a decrypting stream checks the whole file
            pass
        finish = getattr(stream, "finish", None)
        if callable(finish):
            finish()
    except tarfile.TarError as exc:
        raise RestoreError(f"`{path}` is not a base backup corral made: {exc}") from None
    finally:
        stream.close()
    if not (dest / "PG_VERSION").is_file():
        raise RestoreError(f"`{path}` held no base.tar: `{dest}` is no data directory")
    if tablespaces:
        _fresh(dest / "tablespace_map").write_text("".join(f"{oid} {where}\n" for oid, where in tablespaces.items()))
        request.say(f"tablespace_map points {len(tablespaces)} tablespace(s) to `{spaces}`")
    recovery = "recovery.signal" if (dest / "recovery.signal").exists() else "no recovery.signal"
    request.say(f"{recovery}: the WAL to a consistent state is in pg_wal; postgres replays it at start "
                "(backup_label)")
    for top in (dest, *tablespaces.values()):
        special = next((entry.path for entry in unusual(top) if not entry.is_symlink()), None)
        if special:
            raise RestoreError(f"`{special}` is a device node, fifo or socket, which pg_basebackup never writes: "
                               f"`{path}` was altered; remove `{dest}`")
    _own(dest, [spaces] if tablespaces else [], request)
    request.say(f"start it with: postgres -D {dest} (as {_owner_name()}), or point a cluster's data_directory there")
    return [path]


def _member(run: RunContext, outer: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, spaces: Path,
            tablespaces: dict[str, Path], request: RestoreRequest) -> None:  # fmt: skip
    name = member.name
    reader = outer.extractfile(member) if member.isfile() else None
    if reader is None:
        raise RestoreError(f"unexpected member `{name}` in the base backup")
    if name == "backup_manifest":
        with _fresh(dest / "backup_manifest").open("xb") as out:
            shutil.copyfileobj(reader, out, 1 << 20)
        request.say(f"backup_manifest into `{dest}` (pg_verifybackup {dest} checks the files)")
        return
    if name.startswith("base.tar"):
        where = dest
    elif name.startswith("pg_wal.tar"):
        where = dest / "pg_wal"
        if where.is_symlink():
            raise RestoreError(f"`{where}` from the base backup is a symbolic link to `{os.readlink(where)}`, "
                               f"which pg_basebackup never writes: `{name}` is not unpacked through it")
    elif _TABLESPACE.match(name):
        oid = name.split(".", 1)[0]
        where = spaces / oid
        if not tablespaces:
            try:
                spaces.mkdir(mode=0o700)  # never one that exists: its owner would get the tablespaces' files
            except FileExistsError:
                raise RestoreError(f"`{spaces}` exists: the restore creates the folder of the backup's tablespaces "
                                   "itself; move it away") from None
        if oid in tablespaces:
            raise RestoreError(f"tablespace `{oid}` twice in the base backup: `{request.archive.path}` was altered")
        tablespaces[oid] = where
    else:
        raise RestoreError(f"unexpected member `{name}` in the base backup")
    where.mkdir(mode=0o700, exist_ok=True)
    extension = name.split(".", 1)[1]
    load(run, cast(BinaryIO, reader), extension, ["tar", "-x", "-f", "-", "--no-same-owner", "-C", str(where)])
    request.say(f"extracted `{name}` ({human_size(member.size)}) into `{where}`")


def tablespaces_of(dest: Path) -> Path:
    """The folder beside the data directory ``dest`` that its extra tablespaces are unpacked into (created by
    the restore, never taken as found)."""
    return dest.parent / f"{dest.name}.tablespaces"


def unusual(top: Path) -> Iterator[os.DirEntry[str]]:
    """Every entry under ``top`` that is neither a regular file nor a folder (symbolic links, not followed; device
    nodes, fifos, sockets)."""
    with os.scandir(top) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield from unusual(Path(entry.path))
            elif not entry.is_file(follow_symlinks=False):
                yield entry


def _fresh(path: Path) -> Path:
    """``path`` with whatever the archive put there removed, so writing it follows no link of the archive's; a
    folder there is refused (pg_basebackup writes a file)."""
    if path.is_dir() and not path.is_symlink():
        raise RestoreError(f"`{path.name}` in the base backup is a folder, which pg_basebackup never writes: the "
                           f"archive was altered; remove `{path.parent}`")
    path.unlink(missing_ok=True)
    return path


def _owner_name() -> str:
    return OWNER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


def _own(dest: Path, others: list[Path], request: RestoreRequest) -> None:
    """As root: everything to the postgres user, which is who runs the server; the data directory 0700."""
    if os.geteuid() != 0:
        request.say(f"`{dest}` belongs to {_owner_name()}, mode 0700")
        return
    try:
        owner = pwd.getpwnam(OWNER)
    except KeyError:
        raise RestoreError(f"there is no `{OWNER}` user to own `{dest}`: chown -R it to the server's user") from None
    for top in (dest, *others):
        for root, folders, files in os.walk(top):
            for entry in (root, *(os.path.join(root, f) for f in folders + files)):
                os.lchown(entry, owner.pw_uid, owner.pw_gid)
    request.say(f"`{dest}` belongs to {OWNER}:{OWNER}, mode 0700")

