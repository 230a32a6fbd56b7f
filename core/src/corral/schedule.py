"""The nightly run as sysadmins expect it: a systemd service and timer, or a cron file where systemd is absent.

Every file written here starts with :data:`MARKER`: ``corral schedule remove`` deletes only files that do, and
``install`` replaces only those; a file someone else wrote at the same path is never touched.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from corral.errors import EXIT_USAGE, CorralError, one_line

MARKER = "# Written by `corral schedule install`; `corral schedule remove` deletes this file."
TIMER_NAME = "corral-backup.timer"
SERVICE = Path("etc/systemd/system/corral-backup.service")
TIMER = Path("etc/systemd/system") / TIMER_NAME
CRON = Path("etc/cron.d/corral")
FILES = (SERVICE, TIMER, CRON)
_SPAN_UNITS = {"s": 1, "min": 60, "h": 3600, "d": 86400}


class ScheduleError(CorralError):
    """A schedule cannot be written or removed as asked."""


class ScheduleUsage(ScheduleError):
    """An option's value is wrong (``--at 25:00``)."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Schedule:
    """What to run every night, and the limits it runs under."""

    corral: tuple[str, ...]  # the command that runs this corral, absolute
    hour: int
    minute: int
    jobs: str
    config: Path
    runtime_max: str  # a span in systemd's syntax: 23h, 90min, 1h30min
    random_delay: str | None = None

    @property
    def command(self) -> list[str]:
        return [*self.corral, "start", self.jobs, "-c", str(self.config)]


def parse_at(text: str) -> tuple[int, int]:
    """``HH:MM`` on a 24-hour clock, as hour and minute."""
    found = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text.strip())
    if not found:
        raise ScheduleUsage(f"--at `{one_line(text)}` is not a time of day: give HH:MM, e.g. --at 02:30")
    return int(found.group(1)), int(found.group(2))


LONGEST_SPAN = 7 * 86400  # a run's limit or delay past a week is a typo (systemd ignores what it cannot parse)


def span_seconds(text: str, option: str) -> int:
    """Seconds of a span like ``23h`` or ``1h30min`` (units s, min, h, d), a syntax systemd and corral share;
    at most :data:`LONGEST_SPAN`."""
    parts = re.findall(r"(\d+)(min|s|h|d)", text)
    if not parts or "".join(n + u for n, u in parts) != text or not any(int(n) for n, _ in parts):
        raise ScheduleUsage(f"{option} `{one_line(text)}` is not a time span: give e.g. 23h, 90min or 1h30min")
    seconds = sum(int(number) * _SPAN_UNITS[unit] for number, unit in parts)
    if seconds > LONGEST_SPAN:
        raise ScheduleUsage(f"{option} `{one_line(text)}` is longer than a week (7d)")
    return seconds


def running_corral() -> tuple[str, ...]:
    """The command that runs this corral again: the ``corral`` script that was started, or the one beside the
    interpreter (a venv's or pipx's ``bin``), else ``python -m corral``. Symlinks stay: a venv's python resolved
    is not the venv's. Refused when another user could change the script or its interpreter: the schedule runs
    it as the user installing it, every night."""
    for script in (Path(os.path.abspath(sys.argv[0])), Path(os.path.abspath(sys.executable)).parent / "corral"):
        if script.name == "corral" and script.is_file() and os.access(script, os.X_OK):
            _trusted(script)
            _trusted(Path(os.path.abspath(sys.executable)))  # the script's #! names this interpreter
            return (str(script),)
    _trusted(Path(os.path.abspath(sys.executable)))
    return (os.path.abspath(sys.executable), "-m", "corral")


def _trusted(program: Path) -> None:
    from corral.config.trust import untrusted

    try:
        fd = os.open(program, os.O_RDONLY)
    except OSError as exc:
        raise ScheduleError(f"`{program}`: cannot read it: {exc.strerror}") from None
    try:
        problem = untrusted(fd, str(program))
    finally:
        os.close(fd)
    if problem:
        raise ScheduleError(f"{problem}; the schedule would run it as you every night: install corral where only "
                            "you (or root) can change it")


def _safe(word: str) -> str:
    if not word.isprintable() or not word:
        raise ScheduleUsage(f"`{one_line(word)}` cannot go on a command line in a unit or cron file")
    return word


def _systemd_word(word: str) -> str:
    """One argument of ``ExecStart=``: quoted when needed; ``%`` and ``$`` escaped (specifiers, variables)."""
    word = _safe(word).replace("%", "%%").replace("$", "$$")
    if re.fullmatch(r"[\w./:@+=,-]+", word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def service_unit(schedule: Schedule) -> str:
    command = " ".join(_systemd_word(word) for word in schedule.command)
    return f"""{MARKER}
[Unit]
Description=corral backup: start {_systemd_word(schedule.jobs)}
Wants=network-online.target
After=network-online.target

[Service]
# exec, not oneshot: RuntimeMaxSec= does not limit a oneshot service
Type=exec
ExecStart={command}
Nice=10
# best-effort at its lowest priority rather than idle, which may never get the disk of a busy server
IOSchedulingClass=best-effort
IOSchedulingPriority=7
# a run still going by then is stopped with SIGTERM (corral removes its temporary files) before the next night
RuntimeMaxSec={schedule.runtime_max}
"""


def timer_unit(schedule: Schedule) -> str:
    delay = f"RandomizedDelaySec={schedule.random_delay}\n" if schedule.random_delay else ""
    return f"""{MARKER}
[Unit]
Description=corral backup every night at {schedule.hour:02}:{schedule.minute:02}

[Timer]
OnCalendar=*-*-* {schedule.hour:02}:{schedule.minute:02}:00
# a night missed while the machine was off runs as soon as it is back
Persistent=true
{delay}
[Install]
WantedBy=timers.target
"""


def cron_file(schedule: Schedule) -> str:
    """``/etc/cron.d/corral``; ``timeout``, ``nice`` and ``ionice`` give the limits of the systemd units."""
    if schedule.random_delay:
        raise ScheduleUsage("--random-delay is for a systemd timer; cron runs at the minute given")
    limits = ["nice", "-n", "10", "ionice", "-c", "2", "-n", "7", "timeout", "-k", "5m",
              str(span_seconds(schedule.runtime_max, "--runtime-max"))]  # fmt: skip
    # cron reads `%` as a line break and `\\` as one backslash, unless escaped by a backslash
    command = shlex.join([*limits, *(_safe(word) for word in schedule.command)])
    command = command.replace("\\", "\\\\").replace("%", "\\%")
    return f"""{MARKER}
# cron mails what corral prints: nothing when every job succeeded, the errors and a summary when one failed.
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
{schedule.minute} {schedule.hour} * * * root {command}
"""


def systemd_live(root: Path) -> bool:
    """Whether systemd runs the system under ``root`` (the test ``sd_booted()`` makes)."""
    return (root / "run/systemd/system").is_dir()


def ours(path: Path) -> bool | None:
    """None when nothing is at ``path``; True when it is a regular file that corral wrote (its first line is
    the marker); False otherwise: a foreign file, a folder, or a symlink (never followed)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:  # ELOOP: a symlink; or unreadable
        return False
    with open(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            return False
        return file.readline(len(MARKER) + 2).rstrip(b"\n") == MARKER.encode()


def foreign(root: Path, paths: tuple[Path, ...]) -> list[Path]:
    return [root / path for path in paths if ours(root / path) is False]


def not_ours(path: Path) -> str:
    return f"`{path}` was not written by corral (its first line is not corral's): it stays"


def refuse_foreign(root: Path, paths: tuple[Path, ...]) -> None:
    others = foreign(root, paths)
    if others:
        raise ScheduleError("\n".join(f"{not_ours(path)}; nothing was changed: move it away first" for path in others))


def _folder(path: Path) -> None:
    """Create the missing folders of ``path``, 0755 (under ``--root`` they may not exist yet): made with that
    mode, never chmod-ed after (a folder swapped for a symlink in between would pass the mode on)."""
    if not path.is_dir():
        _folder(path.parent)
        mask = os.umask(0o022)  # corral's own umask 077 would make it 0700
        try:
            path.mkdir(mode=0o755, exist_ok=True)
        finally:
            os.umask(mask)


def write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` at once: a temporary file beside it, renamed over it. A symlink planted at
    ``path`` is replaced, never written through."""
    _folder(path.parent)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # O_EXCL: a fresh file
    try:
        with open(fd, "w", encoding="utf-8") as file:
            # 0644, not corral's usual 0600: systemd and cron read the system's units and cron files as
            # world-readable (systemd warns about one that is not, and shows it over D-Bus anyway); they hold a
            # command line and the config's path, no secret.
            os.fchmod(file.fileno(), 0o644)
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.rename(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@contextmanager
def _reported(doing: str) -> Iterator[None]:
    """An ``OSError`` (not root, a file where a folder should be) as one line naming the path."""
    try:
        yield
    except OSError as error:
        where = f"`{error.filename}`" if error.filename else "a schedule file"
        raise ScheduleError(f"cannot {doing} {where}: {error.strerror or error}") from None


def systemctl(*args: str) -> None:
    done = subprocess.run(["systemctl", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        cause = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise ScheduleError(f"`systemctl {' '.join(args)}` failed: {cause}")


def next_run(text: str, now: datetime) -> datetime | None:
    """The next start a file corral wrote asks for (its ``OnCalendar=`` or cron line), in local time."""
    found = re.search(r"^OnCalendar=\*-\*-\* (?P<h>\d\d):(?P<m>\d\d):00$", text, re.M) or \
        re.search(r"^(?P<m>\d+) (?P<h>\d+) \* \* \* ", text, re.M)  # fmt: skip
    return next_time(int(found["h"]), int(found["m"]), now) if found else None


def next_time(hour: int, minute: int, now: datetime) -> datetime:
    at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return at if at > now else at + timedelta(days=1)


def files(schedule: Schedule, root: Path, systemd: bool) -> dict[Path, str]:
    """The files that make ``schedule``, by their path under ``root``."""
    if systemd:
        return {root / SERVICE: service_unit(schedule), root / TIMER: timer_unit(schedule)}
    return {root / CRON: cron_file(schedule)}


def install(schedule: Schedule, root: Path, systemd: bool) -> list[Path]:
    """Write the schedule's files (replacing corral's own), remove corral's files of the other kind, and, on the
    running system, enable the timer; returns the paths removed. Refuses before any change when a foreign file
    is at a path to write."""
    texts = files(schedule, root, systemd)
    refuse_foreign(root, tuple(path.relative_to(root) for path in texts))
    stale = [root / path for path in FILES if root / path not in texts and ours(root / path)]
    live = root == Path("/") and systemd_live(root)
    if live and root / TIMER in stale:
        systemctl("disable", "--now", TIMER_NAME)
    with _reported("write"):
        for path, text in texts.items():
            write(path, text)
        for path in stale:
            path.unlink()
    if live:
        systemctl("daemon-reload")
        if systemd:
            systemctl("enable", "--now", TIMER_NAME)
    return stale


def remove(root: Path) -> tuple[list[Path], list[Path]]:
    """Remove corral's schedule files (the timer disabled first on the running system); returns their paths,
    and those of the foreign files at corral's paths, which stay."""
    found = [root / path for path in FILES if ours(root / path)]
    live = root == Path("/") and systemd_live(root)
    if live and root / TIMER in found:
        systemctl("disable", "--now", TIMER_NAME)
    with _reported("remove"):
        for path in found:
            path.unlink()
    if live and root / SERVICE in found:
        systemctl("daemon-reload")
    return found, foreign(root, FILES)
