"""The incremental scheme's calendar, on names alone."""

from __future__ import annotations

from datetime import datetime, timedelta

from corral.archive import RemoteFile, archive_name
from corral_source_files import chain


def stored(links: list[tuple[datetime, int]], snar: bool = True) -> list[RemoteFile]:
    files = []
    for made, level in links:
        name = chain.LEVELS[level]
        files.append(RemoteFile(f"/b/j/site/{made:%Y}/{archive_name('site', made, name + '.tar.gz')}", 10))
        if snar and level < chain.DAY:
            files.append(RemoteFile(f"/b/j/site/{made:%Y}/{archive_name('site', made, name + '.snar')}", 1))
    return files


def simulate(start: datetime, days: int) -> list[tuple[datetime, int]]:
    """A daily run for ``days`` days: the levels ``plan`` chooses (links built directly, the names tested apart)."""
    made: list[tuple[datetime, int]] = []
    links: list[chain.Link] = []
    for offset in range(days):
        now = start + timedelta(days=offset)
        this_year = [link for link in links if link.made.year == now.year]
        level, _ = chain.plan(this_year, now)
        made.append((now, level))
        links.append(chain.Link(now, level, archive="a", snar="s" if level < chain.DAY else None))
    return made


def test_links_are_read_back_from_stored_names() -> None:
    made = [(datetime(2026, 1, 1, 3), chain.FULL), (datetime(2026, 1, 2, 3), chain.DAY)]
    links = chain.links_of([*stored(made), RemoteFile("/b/j/other/2026/other_2026-01-01_03-00-00.full.snar", 1)],
                           "/b/j", "site")
    assert [(link.level, link.complete) for link in links] == [(chain.FULL, True), (chain.DAY, False)]
    assert links[0].snar.endswith("/2026/site_2026-01-01_03-00-00.full.snar")


def test_levels_follow_the_calendar() -> None:
    made = dict(simulate(datetime(2025, 12, 29, 3), 50))
    levels = {f"{d:%m-%d}": chain.LEVELS[level] for d, level in made.items()}
    assert levels["12-29"] == "full"  # the first run ever
    assert levels["12-30"] == "day"
    assert levels["01-01"] == "full"  # a new year
    assert levels["01-02"] == levels["01-10"] == "day"
    assert levels["01-11"] == levels["01-21"] == "decade"
    assert levels["01-12"] == levels["01-31"] == "day"
    assert levels["02-01"] == "month"
    assert levels["02-11"] == "decade"


def test_restore_chain_of_the_article_example() -> None:
    """July 24: the yearly, July's monthly, the decade of July 21st, the daily of July 24th."""
    made = simulate(datetime(2018, 1, 1, 3), 210)
    links = chain.links_of(stored(made), "/b/j", "site")
    steps = chain.restore_chain(links, datetime(2018, 7, 24, 23, 59))
    assert [(f"{s.made:%m-%d}", chain.LEVELS[s.level]) for s in steps] == [
        ("01-01", "full"), ("07-01", "month"), ("07-21", "decade"), ("07-24", "day")
    ]


def test_missed_first_of_month_makes_the_month_base_on_the_next_run() -> None:
    made = [(datetime(2026, 1, 1, 3), chain.FULL), (datetime(2026, 1, 31, 3), chain.DAY)]
    level, base = chain.plan(chain.links_of(stored(made), "/b/j", "site"), datetime(2026, 2, 4, 3))
    assert (level, [b.made.day for b in base]) == (chain.MONTH, [1])


def test_a_base_without_its_snapshot_is_not_used() -> None:
    made = [(datetime(2026, 1, 1, 3), chain.FULL), (datetime(2026, 2, 1, 3), chain.MONTH)]
    files = [f for f in stored(made) if not f.path.endswith("month.snar")]
    level, base = chain.plan(chain.links_of(files, "/b/j", "site"), datetime(2026, 2, 2, 3))
    assert level == chain.MONTH and [b.level for b in base] == [chain.FULL]


def test_retention_keeps_a_year_and_the_full_while_needed() -> None:
    made = simulate(datetime(2026, 1, 1, 3), 365 + 212)  # to 2027-08-01
    links = chain.links_of(stored(made), "/b/j", "site")
    doomed = chain.expired(links, datetime(2027, 8, 1, 3))
    gone = {(d.made.year, d.made.month) for d in doomed}
    assert gone == {(2026, m) for m in range(1, 9)}
    assert all(d.level != chain.FULL for d in doomed), "2026's full is needed until December 2027"
    december = chain.expired([link for link in links if (link.made.year == 2026 and link.made.month >= 12)
                              or link.level == chain.FULL], datetime(2027, 12, 1, 3))
    assert {(d.made.year, chain.LEVELS[d.level]) for d in december} == {(2026, "full"), (2026, "day"),
                                                                         (2026, "decade"), (2026, "month")}
