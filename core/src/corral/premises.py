"""``corral doctor`` on this server itself: the configuration's files and the work area.

Config files are judged as OpenSSH judges a private key: a file that holds a secret (a password written in it, or
a ``!file`` secret) must be readable by its owner alone, else it is a failure, whatever the folders above it
allow; a file another user owns (root excepted) is one too (``corral start`` refuses it). The work area must be
private (0700, the running user's) and hold what passes through it: the biggest archive of a job that writes its
archives to a temp file (``spool``, or a storage that takes files only), with room to spare.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from corral.doctoring import FAIL, OK, WARN, Check
from corral.masking import SHORT_SECRET
from corral.run import human_size

LOW_SPACE = 1 << 30  # free bytes under which the work area is a warning even when nothing is spooled


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def holds(text: str, secret: str) -> bool:
    """Whether a file's ``text`` holds ``secret`` written out: anywhere for a long one, as a whole YAML value
    (``key: secret``, also in a flow mapping ``{key: secret}``) for a short one, which would otherwise match
    ordinary words."""
    if len(secret) >= SHORT_SECRET:
        return secret in text
    value = re.escape(secret)
    return re.search(rf"(?m)[:-]\s+(['\"]?){value}\1(?=\s*(?:[,}}\]]|#|$))", text) is not None  # block or flow


def config_files(read: Mapping[str, str], secrets: Iterable[tuple[str, str]]) -> list[Check]:
    """One check per file the configuration read: ``read`` maps each path to ``config`` or ``secret`` (a
    ``!file``), ``secrets`` are the (key as messages name it, value) of every secret in the configuration."""
    secrets = list(secrets)
    checks = []
    for name, kind in read.items():
        try:
            info = os.stat(name)
            text = "" if kind == "secret" else Path(name).read_text(errors="replace")
        except OSError as exc:
            checks.append(Check(FAIL, f"cannot read it: {exc.strerror}", f"config {name}"))
            continue
        keys = ["a `!file` secret"] if kind == "secret" else sorted({key for key, value in secrets
                                                                      if holds(text, value)})
        checks.append(_judge(name, info, keys))
    return checks


def _judge(name: str, info: os.stat_result, keys: list[str]) -> Check:
    mode = stat.S_IMODE(info.st_mode)
    facts = f"mode {mode:04o}, owner {_user(info.st_uid)}"
    holding = f"it holds {', '.join(keys)}" if keys else "no secret written in it"
    subject = f"config {name}"
    if info.st_uid not in (0, os.geteuid()):
        return Check(FAIL, f"{facts}: another user owns it and could change what corral runs (fix: "
                     f"`chown {_user(os.geteuid())} {name}`)", subject)
    readers = [who for bit, who in ((0o040, "its group"), (0o004, "every user")) if mode & bit]
    if keys and readers:
        return Check(FAIL, f"{facts}: readable by {' and '.join(readers)}, and {holding} (fix: "
                     f"`chmod 600 {name}`)", subject)
    return Check(OK, f"{facts}; {holding}", subject)


def work_area(main: Any, tmp_dirs: Iterable[Path], needs: Mapping[Path, tuple[int, str]]) -> list[Check]:
    """The lock's and log's folders (as ``corral check`` sees them), then one check per work folder: safe,
    private, and its free space against ``needs`` (the biggest spooled archive and its job, by folder)."""
    from corral.workarea import preflight

    checks = [Check(FAIL, problem, "paths") for problem in preflight(main, [])
              if not problem.startswith("`general_path_to_all_tmp_dir`")]
    general = Path(main.general_path_to_all_tmp_dir)
    shown: dict[Path, tuple[int, str]] = {general: needs.get(general, (0, ""))}
    for folder in tmp_dirs:  # a job's folder that the first run makes inside the general one is seen in it
        key = general if not folder.exists() and folder.is_relative_to(general) else folder
        shown[key] = max(shown.get(key, (0, "")), needs.get(folder, (0, "")))  # the biggest, else a named job
    checks += [_work_folder(folder, *need) for folder, need in shown.items()]
    return checks


def _work_folder(folder: Path, need: int, job: str) -> Check:
    from corral.workarea import UnsafePath, check_way

    subject = f"work area {folder}"
    try:
        check_way(folder, "work folder")
    except UnsafePath as exc:
        return Check(FAIL, str(exc), subject)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        free = shutil.disk_usage(existing).free
    except OSError as exc:
        return Check(FAIL, f"cannot measure its free space: {exc.strerror}", subject)
    if existing != folder:
        state, status = "does not exist yet (the first run creates it, 0700)", OK
    else:
        info = folder.stat()
        mode = stat.S_IMODE(info.st_mode)
        state, status = f"mode {mode:04o}, owner {_user(info.st_uid)}", OK
        if not folder.is_dir():
            return Check(FAIL, "it is not a folder", subject)
        if mode & 0o077:
            state, status = f"{state}: not private (fix: `chmod 700 {folder}`)", WARN
    space = f"{human_size(free)} free"
    if need:
        space += f" for the biggest spooled archive, {human_size(need)} (job {job})"
        if free < need:
            return Check(FAIL, f"{state}; only {space}: the run would fill it", subject)
    elif job:
        space += f"; job {job} spools its archives here, none stored yet to size them"
    else:
        space += "; no archive is spooled (streamed to the storages)"
    if free < max(LOW_SPACE, 2 * need):
        return Check(WARN, f"{state}; only {space}", subject)
    return Check(status, f"{state}; {space}", subject)
