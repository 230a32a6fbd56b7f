"""Retention over a simulated year of daily runs, checked against the calendar."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from corral.archive import Backup, RemoteFile, archive_name, parse_backup
from corral.config.models import Store
from corral.retention import expired


def simulate(days: int, store: Store, start: date, skip: set[date] = frozenset(), weekly_day: int = 7) -> set[date]:
    """Run rotation then a backup every day, as corral start does; return the dates left at the end."""
    backups: list[Backup] = []
    for offset in range(days):
        now = datetime.combine(start + timedelta(days=offset), datetime.min.time()).replace(hour=3)
        doomed = set(expired(backups, store, now, weekly_day))
        backups = [b for b in backups if b not in doomed]
        if now.date() not in skip:
            backups.append(Backup(made=now, target="site", path=f"site/{archive_name('site', now, 'tar')}"))
    return {b.made.date() for b in backups}


def test_a_year_of_days_weeks_months() -> None:
    start = date(2025, 1, 1)
    left = simulate(365, Store(days=6, weeks=4, months=6), start)
    last = date(2025, 12, 31)
    daily = {last - timedelta(days=n) for n in range(6)}
    sundays = {d for d in (last - timedelta(days=n) for n in range(28)) if d.isoweekday() == 7}
    firsts = {date(2025, month, 1) for month in range(7, 13)}
    assert len(sundays) == 4
    assert left == daily | sundays | firsts


def test_every_day_of_the_year_keeps_the_promised_copies() -> None:
    store = Store(days=3, weeks=2, months=2)
    start = date(2026, 1, 1)
    for length in range(1, 200, 7):
        left = simulate(length, store, start)
        today = start + timedelta(days=length - 1)
        for n in range(min(3, length)):
            assert today - timedelta(days=n) in left
        assert today.replace(day=1) in left
        assert len(left) <= 3 + 2 + 2


def test_weekly_day_is_configurable() -> None:
    left = simulate(60, Store(weeks=3), date(2026, 3, 1), weekly_day=1)
    assert sorted(d.isoweekday() for d in left)[:3] == [1, 1, 1]


def test_missed_first_of_month_keeps_the_first_copy_of_that_month() -> None:
    skip = {date(2026, 2, 1), date(2026, 2, 2)}
    left = simulate(59, Store(days=1, months=3), date(2026, 1, 1), skip=skip)
    assert date(2026, 2, 3) in left
    assert date(2026, 1, 1) in left


def test_newest_copy_survives_a_long_outage() -> None:
    """A server off for a month: the old copies are all out of the window, but the newest is never deleted."""
    old = [Backup(made=datetime(2026, 1, d, 3), target="db", path=f"db{d}") for d in range(1, 8)]
    doomed = expired(old, Store(days=6), datetime(2026, 3, 1, 3))
    assert [b.made.day for b in doomed] == [1, 2, 3, 4, 5, 6]


def test_no_store_keeps_everything() -> None:
    old = [Backup(made=datetime(2020, 1, d, 3), target="db", path=f"db{d}") for d in range(1, 8)]
    assert expired(old, Store(), datetime(2026, 3, 1)) == []


def test_targets_rotate_independently() -> None:
    backups = [Backup(made=datetime(2026, 1, d, 3), target=t, path=f"{t}{d}") for d in range(1, 11) for t in "ab"]
    doomed = expired(backups, Store(days=2), datetime(2026, 1, 11, 3))
    assert sorted((b.target, b.made.day) for b in doomed) == sorted((t, d) for t in "ab" for d in range(1, 10))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("/b/job/site/site_2026-02-03_04-05-06.tar.gz", ("site", datetime(2026, 2, 3, 4, 5, 6))),
        ("/b/job/my_db/my_db_2026-02-03_04-05-06.sql.zst", ("my_db", datetime(2026, 2, 3, 4, 5, 6))),
        ("/b/job/site/.site_2026-02-03_04-05-06.tar.partial-ab12", None),
        ("/b/job/site/notes.txt", None),
    ],
)
def test_age_comes_from_the_name(name: str, expected: tuple[str, datetime] | None) -> None:
    backup = parse_backup(RemoteFile(name, 1))
    assert (None if backup is None else (backup.target, backup.made)) == expected
