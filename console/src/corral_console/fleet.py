"""The fleet table: one row per (server, job), from the records the index has read."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from corral.archive import STAMP_FORMAT

RANK = {"failed": 0, "stale": 1, "unknown": 2, "ok": 3}
AHEAD = timedelta(days=1)  # a run that ended later than now + AHEAD (a clock ahead, or a forged record) is not counted


@dataclass(slots=True)
class Check:
    """The newest verify or drill of a job."""

    outcome: str
    when: datetime | None


@dataclass(slots=True)  # 10,000 of them: no __dict__ each
class Row:
    server: str
    job: str
    status: str = "unknown"  # failed (the newest run failed), stale (no success for stale_hours), ok, unknown
    last_run: datetime | None = None
    last_outcome: str = ""
    last_success: datetime | None = None
    age_hours: float | None = None  # since the last success
    size: int | None = None  # of the newest run
    trend: list[int] = field(default_factory=list)  # sizes of the newest runs, oldest first
    change: float | None = None  # the newest size against the median of the runs before it, in percent
    verify: Check | None = None
    drill: Check | None = None
    storages: set[str] = field(default_factory=set)
    newest_stamp: str = ""

    @property
    def rank(self) -> int:
        return RANK.get(self.status, 2)


def moment(finished: str | None, stamp: str) -> datetime | None:
    """When a run ended: its record's ``finished`` (UTC), else its stamp (the server's clock, taken as UTC)."""
    if finished:
        try:
            parsed = datetime.fromisoformat(finished)
            return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except (ValueError, OverflowError):  # OverflowError: 9999-12-31T23:59:59-12:00 is past datetime.max in UTC
            pass
    try:  # fromisoformat is C: strptime took most of the time of building 10,000 rows
        return datetime.fromisoformat(f"{stamp[:10]}T{stamp[11:].replace('-', ':')}").replace(tzinfo=UTC)
    except ValueError:
        return None


def build(rows: Iterable[tuple[Any, ...]], listed: Iterable[tuple[str, str, str, str]], now: datetime,
          stale_hours: float) -> list[Row]:  # fmt: skip
    """Rows from the index's ``fleet_rows`` (in its order: one run's copies on several storages next to each other)
    and ``listed_names``; the failed and stale first, the oldest success first among them."""
    table: dict[tuple[str, str], Row] = {}
    previous: tuple[str, str, str, str] | None = None  # the run of the row before (a set of all: 36 MB at 500 x 20)
    ahead = (now + AHEAD).strftime(STAMP_FORMAT)  # stamps compare as text
    for server, job, kind, stamp, outcome, size, finished, source, _n in rows:
        row = table.setdefault((server, job), Row(server, job))
        row.storages.add(source)
        run = (server, job, kind, stamp)
        if run == previous:  # the same run read from another storage
            continue
        previous = run
        when = moment(finished, stamp)
        if stamp > ahead or (when is not None and when > now + AHEAD):  # else it stays the newest
            continue  # run (by stamp), its outcome the row's for good: retention keeps the newest of a kind
        if kind == "start":
            if row.last_run is None and not row.last_outcome:
                row.last_run, row.last_outcome, row.size = when, outcome, size
            if outcome == "ok" and row.last_success is None:
                row.last_success = when
            if size is not None and len(row.trend) < 10:
                row.trend.insert(0, size)
        elif kind in ("verify", "drill") and getattr(row, kind) is None:
            setattr(row, kind, Check(outcome, when))
    for server, job, newest, sources in listed:
        row = table.setdefault((server, job), Row(server, job))
        row.newest_stamp = newest
        row.storages.update(sources.split(",") if sources else ())
    for row in table.values():
        if row.last_success is not None:
            row.age_hours = max(0.0, (now - row.last_success).total_seconds() / 3600)
        if row.last_outcome in ("failed", "unreadable"):
            row.status = "failed"
        elif row.last_outcome == "ok":
            row.status = "stale" if row.age_hours is None or row.age_hours > stale_hours else "ok"
        elif row.last_success is None and row.last_run is None:
            row.status = "unknown"
        if len(row.trend) >= 2:
            before = statistics.median(row.trend[:-1])
            row.change = round((row.trend[-1] - before) * 100 / before, 1) if before else None
    return sorted(table.values(), key=lambda r: (r.rank, -(r.age_hours or 1e9), r.server, r.job))


def sparkline(sizes: list[int], width: int = 80, height: int = 18) -> str:
    """The points of an SVG polyline drawing ``sizes`` (empty for fewer than two)."""
    if len(sizes) < 2:
        return ""
    low, high = min(sizes), max(sizes)
    span = (high - low) or 1
    step = width / (len(sizes) - 1)
    return " ".join(f"{i * step:.1f},{height - 1 - (s - low) * (height - 2) / span:.1f}" for i, s in enumerate(sizes))
