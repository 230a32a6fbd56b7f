"""The files of a migrated configuration: ``corral.conf``, ``conf.d/<job>.conf``, ``credentials/<name>``.

Everything is written as ``corral discover`` writes (its helpers): the YAML by the safe dumper, each file
replaced whole with mode 0600, each folder 0700 and never through a link; the passwords first, so that no file
names a missing one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from corral.discovery import jobs as discovered
from corral.discovery.jobs import FileRef, WriteError, shown
from corral.migrate.load import MigrateError
from corral.migrate.mapping import EnvRef, Secret
from corral.migrate.report import Plan
from corral.targets import safe

MAIN = "corral.conf"
JOBS = "conf.d"
CREDENTIALS = "credentials"


class _Dumper(discovered.Dumper):
    """The discover dumper (``!file``), with ``!env``."""


_Dumper.add_representer(EnvRef, lambda dumper, value: dumper.represent_scalar("!env", str(value)))


@dataclass(frozen=True)
class Output:
    """One file to write: its path below the target folder and its text."""

    name: str
    text: str


def _resolved(value: Any, prefix: str, used: set[str]) -> Any:
    """``value`` with every :class:`Secret` as ``!file <prefix><name>`` (its name added to ``used``)."""
    if isinstance(value, Secret):
        used.add(str(value))
        return FileRef(f"{prefix}{value}")
    if isinstance(value, dict):
        return {key: _resolved(item, prefix, used) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item, prefix, used) for item in value]
    return value


def _dump(value: Any) -> str:
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                     width=120)


def render(plan: Plan, source: Path) -> list[Output]:
    """The main file and one job file per job (names made file-safe and unique); ``plan.secrets`` keeps the
    passwords they read (not those of a 3.x storage no job uses)."""
    read: set[str] = set()
    stamp = datetime.now().strftime("%Y-%m-%d %H:%M")
    head = [f"# Written by `corral migrate` on {stamp} from {shown(source)} (nxs-backup {plan.version}.x).",
            "# Passwords are in credentials/ (mode 0600), read with `!file`; comments of the nxs-backup files are",
            "# not carried over (PyYAML drops them). docs/migrating-from-nxs-backup.md says what differs."]
    main = _dump({"main": _resolved(plan.main, f"{CREDENTIALS}/", read)}) if plan.main else "main: {}\n"
    outputs = [Output(MAIN, "\n".join(head) + "\n" + main + f"jobs: !include [{JOBS}/*.conf]\n")]
    used: set[str] = set()
    for job in plan.jobs:
        name = base = safe(job.name).lstrip(".") or "job"  # `.x.conf`: a name `conf.d/*.conf` does not match
        count = 1
        while name in used:
            count += 1
            name = f"{base}-{count}"
        used.add(name)
        text = (f"# From {shown(job.where)} (nxs-backup {plan.version}.x), by `corral migrate`.\n"
                + _dump([_resolved(job.data, f"../{CREDENTIALS}/", read)]))
        outputs.append(Output(f"{JOBS}/{name}.conf", text))
    plan.secrets = {name: password for name, password in plan.secrets.items() if name in read}
    return outputs


def write(plan: Plan, outputs: list[Output], to_dir: Path, force: bool) -> None:
    """Write ``outputs`` and the passwords into ``to_dir`` (conf.d/ and credentials/ 0700, files 0600; ``to_dir``
    made 0700 when missing, an existing one keeps its mode); a file already there stays unless ``force``.
    Everything is checked before the first folder is made: an error writes nothing."""
    for name, password in sorted(plan.secrets.items()):
        if password.splitlines() != [password]:
            raise MigrateError(f"the password for `{name}` holds a line break, which `!file` cannot read: "
                               "write that key by hand")
    if not force:
        names = [MAIN, *(output.name for output in outputs), *(f"{CREDENTIALS}/{name}" for name in plan.secrets)]
        for name in names:
            if os.path.lexists(to_dir / name):
                raise MigrateError(f"`{to_dir / name}` exists: not overwritten (--force overwrites it, the main "
                                   "file and the job files migrate writes; other files of conf.d stay)")
    try:
        os.close(_target_folder(to_dir))
        os.close(discovered.private_folder(to_dir / JOBS))
        secrets = discovered.private_folder(to_dir / CREDENTIALS) if plan.secrets else None
        try:
            for name, password in sorted(plan.secrets.items()):
                assert secrets is not None
                discovered.write_at(secrets, name, password.encode("utf-8", "surrogateescape") + b"\n")
        finally:
            if secrets is not None:
                os.close(secrets)
        for output in sorted(outputs, key=lambda o: o.name == MAIN):  # the main file last
            folder = os.path.dirname(output.name)
            fd = discovered.private_folder(to_dir / folder) if folder else _target_folder(to_dir)
            try:
                discovered.write_at(fd, os.path.basename(output.name), output.text.encode("utf-8"))
            finally:
                os.close(fd)
    except WriteError as exc:
        raise MigrateError(str(exc)) from None
    except OSError as exc:
        raise MigrateError(f"cannot write into `{to_dir}`: {exc.strerror}") from None


def _target_folder(path: Path) -> int:
    """An fd of ``--to``: made 0700 when missing; an existing one (``/etc``, ``/root``) keeps its mode, but must be
    the running user's, not a link, and writable by nobody else (who could put a conf.d of theirs there)."""
    if not os.path.lexists(path):
        return discovered.private_folder(path)  # WriteError when it cannot be made
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise MigrateError(f"`{path}` is not a folder (a link is not followed): {exc.strerror}") from None
    info = os.fstat(fd)
    problem = (f"belongs to uid {info.st_uid}, not to the user running corral" if info.st_uid != os.geteuid()
               else "is a folder others can write to" if info.st_mode & 0o022 else None)
    if problem:
        os.close(fd)
        raise MigrateError(f"`{path}` {problem}: write corral's configuration into a folder of your own "
                           "(`--to /etc/corral`)")
    return fd
