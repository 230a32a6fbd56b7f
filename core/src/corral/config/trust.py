"""Refuse configuration files that a user other than root (or the user corral runs as) could change.

corral runs what its configuration names (``external``'s ``dump_cmd``, dump tools and their options) as the user
that runs it, usually root from cron. Whoever can change the main file, an included file or a ``!file`` secret,
or swap one of them through a folder they can write, runs commands as that user. As OpenSSH's ``StrictModes``
and sudo do for their files, the file must belong to root or the running user and be writable by nobody else,
and so must every folder above it up to ``/``, except that a sticky folder (``/tmp``) may be writable by all:
there nobody can rename or delete what is not theirs, and what comes below it is checked in turn.

Both ways to the file are checked: the path it really has, and the path as written, where every symbolic link
must also belong to root or the running user (a link in a user's folder would let that user choose which of
root's files corral loads, even one in a folder they cannot read).
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path


def untrusted(fd: int, shown: str) -> str | None:
    """Why another user could change the opened file ``shown`` or swap it, or None when nobody else can.

    The file is judged by its open descriptor, so the answer is about the bytes corral reads, and its folders by
    the path the descriptor really has (symlinks resolved), as OpenSSH does.
    """
    me = os.geteuid()
    problem = _problem(os.fstat(fd), me, folder=False)
    if problem:
        return _explain(f"`{shown}` {problem[0]}", problem[1], shown, me)
    for folder in _opened_path(fd, shown).parents:
        try:
            info = os.stat(folder)
        except OSError as exc:
            return f"`{shown}`: cannot check its folder `{folder}`: {exc.strerror}"
        problem = _problem(info, me, folder=True)
        if problem:
            return _explain(f"`{shown}` is in folder `{folder}`, which {problem[0]}", problem[1], str(folder), me)
    return _written_way(shown, me)


def _written_way(shown: str, me: int) -> str | None:
    """Why the path as written (links not resolved) lets another user choose the file, or None."""
    literal = Path(os.path.abspath(shown))
    for part in [*reversed(literal.parents), literal]:
        try:
            info = os.lstat(part)
        except OSError as exc:
            return f"`{shown}`: cannot check `{part}` on its way: {exc.strerror}"
        if stat.S_ISLNK(info.st_mode):
            if info.st_uid not in (0, me):
                return _explain(f"`{shown}` is reached through the link `{part}`, which belongs to "
                                f"{_user(info.st_uid)}", "rm", str(part), me)
        elif part != literal:
            problem = _problem(info, me, folder=True)
            if problem:
                return _explain(f"`{shown}` is in folder `{part}`, which {problem[0]}", problem[1], str(part), me)
    return None


def _problem(info: os.stat_result, me: int, folder: bool) -> tuple[str, str] | None:
    """(what is wrong, the command that fixes it) for one file or folder."""
    if info.st_uid not in (0, me):
        return f"belongs to {_user(info.st_uid)}", f"chown {_name(me)}"
    sticky = folder and bool(info.st_mode & stat.S_ISVTX)
    writers = [who for bit, who in ((0o020, "its group"), (0o002, "every user")) if info.st_mode & bit]
    if writers and not sticky:
        return f"is writable by {' and '.join(writers)} (mode {stat.S_IMODE(info.st_mode):04o})", "chmod go-w"
    return None


def _explain(problem: str, fix: str, target: str, me: int) -> str:
    return f"{problem}, so another user could change what corral runs as {_name(me)}; fix: `{fix} {target}`"


def _opened_path(fd: int, shown: str) -> Path:
    """The path the descriptor really has, from /proc where there is one, else the path resolved now."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return Path(os.path.realpath(shown))


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _user(uid: int) -> str:
    name = _name(uid)
    return f"`{name}` (uid {uid})" if name != str(uid) else f"uid {uid}"
