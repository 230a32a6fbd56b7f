"""Which backups retention keeps: the newest always, the last ``days`` days, and the first copy of each of the
last ``weeks`` weeks and ``months`` months.

A backup's age comes from the date in its name, never from the storage's mtime. Rotation runs before the
day's dump (as the article does), so "the last N days" counts today: after the run there are N days of copies.
A week starts on ``main.weekly_backup_day``; its first copy (normally made that day) is the weekly one; the
first copy of a month (normally the 1st) is the monthly one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from corral.archive import Backup
from corral.config.models import Store


def week_start(day: date, weekly_day: int) -> date:
    """The first day of the week holding ``day``, weeks starting on ``weekly_day`` (1=Monday..7=Sunday)."""
    return day - timedelta(days=(day.isoweekday() - weekly_day) % 7)


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def kept(backups: Iterable[Backup], store: Store, now: datetime, weekly_day: int = 7) -> set[Backup]:
    """The backups of one target that retention keeps."""
    backups = sorted(backups)
    if not backups:
        return set()
    if not store.enabled:
        return set(backups)
    today = now.date()
    keep = {backups[-1]}
    if store.days:
        first_day = today - timedelta(days=store.days - 1)
        keep.update(b for b in backups if b.made.date() >= first_day)
    if store.weeks:
        first_week = week_start(today, weekly_day) - timedelta(weeks=store.weeks - 1)
        firsts: dict[date, Backup] = {}
        for backup in backups:
            firsts.setdefault(week_start(backup.made.date(), weekly_day), backup)
        keep.update(b for start, b in firsts.items() if start >= first_week)
    if store.months:
        first_month = _month_index(today) - (store.months - 1)
        month_firsts: dict[int, Backup] = {}
        for backup in backups:
            month_firsts.setdefault(_month_index(backup.made.date()), backup)
        keep.update(b for index, b in month_firsts.items() if index >= first_month)
    return keep


def expired(backups: Iterable[Backup], store: Store, now: datetime, weekly_day: int = 7) -> list[Backup]:
    """The backups retention deletes, per target, oldest first; never the newest of a target."""
    by_target: dict[str, list[Backup]] = defaultdict(list)
    for backup in backups:
        by_target[backup.target].append(backup)
    doomed: list[Backup] = []
    for target_backups in by_target.values():
        keep = kept(target_backups, store, now, weekly_day)
        doomed.extend(b for b in sorted(target_backups) if b not in keep)
    return doomed
