"""The incremental scheme of the article, as pure functions over what a storage holds.

Levels: a ``full`` archive at the start of the year (or the first run ever), a ``month`` incremental relative
to it on the 1st, ``decade`` incrementals relative to the month's base on the 11th and 21st, and ``day``
incrementals relative to the decade's base on the other days. Every base level is stored with its GNU tar
snapshot (``.snar``), so any server holding the storage can continue the chain. The base of a link is always
the newest complete link of a lower level made before it, which is also how a restore finds the chain.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from corral import RemoteFile, own_backup, with_compressions
from corral.encryption import SUFFIX as AGE_SUFFIX

LEVELS = ("full", "month", "decade", "day")
FULL, MONTH, DECADE, DAY = range(4)
# every file of a chain: `<level>.<tar archive>` and a base level's `<level>.snar`, each maybe encrypted (`.age`)
PLAIN = tuple(f"{level}.{kind}" for level in LEVELS for kind in (*with_compressions("tar"), "snar"))
EXTENSIONS = (*PLAIN, *(f"{extension}.{AGE_SUFFIX}" for extension in PLAIN))


@dataclass
class Link:
    """One run's archive of a target, and its snapshot when it is a base level."""

    made: datetime
    level: int
    archive: str | None = None
    snar: str | None = None

    @property
    def complete(self) -> bool:
        """Usable as a base: both the archive and its snapshot are stored."""
        return self.archive is not None and self.snar is not None

    @property
    def paths(self) -> list[str]:
        return [p for p in (self.archive, self.snar) if p]

    @property
    def sealed_snar(self) -> bool:
        """Its snapshot is stored encrypted: only the local state (corral_source_files.state) can continue it."""
        return (self.snar or "").endswith(f".{AGE_SUFFIX}")


class BrokenChain(Exception):
    """A link's bases are missing: it cannot be restored."""


def links_of(files: Iterable[RemoteFile], root: str, target: str) -> list[Link]:
    """The target's chain links found among the files of a storage's job folder ``root``, oldest first."""
    return links_by_target(files, root).get(target, [])


def links_by_target(files: Iterable[RemoteFile], root: str) -> dict[str, list[Link]]:
    """Every target's chain links among the files of a storage's job folder ``root``, oldest first: one pass
    over the listing. Only files corral wrote count (see ``own_backup``): rotation deletes expired links."""
    found: dict[str, dict[tuple[datetime, int], Link]] = {}
    for remote in files:
        backup = own_backup(remote, root, EXTENSIONS)
        if backup is None:
            continue
        level_name, _, kind = backup.path.rsplit("_", 1)[-1].partition(".")[2].partition(".")
        level = LEVELS.index(level_name)
        links = found.setdefault(backup.target, {})
        link = links.setdefault((backup.made, level), Link(backup.made, level))
        if kind.removesuffix(f".{AGE_SUFFIX}") == "snar":
            link.snar = backup.path
        else:
            link.archive = backup.path
    return {target: sorted(links.values(), key=lambda link: (link.made, link.level)) for target, links in found.items()}


def decade(day: date) -> int:
    return 0 if day.day <= 10 else 1 if day.day <= 20 else 2


def chain_of(link: Link, links: list[Link]) -> list[Link]:
    """``link`` and its bases, oldest first: what a restore applies."""
    chain = [link]
    while chain[0].level > FULL:
        current = chain[0]
        bases = [b for b in links if b.level < current.level and b.made < current.made and b.complete]
        if not bases:
            raise BrokenChain(f"the {LEVELS[current.level]} archive of {current.made:%Y-%m-%d %H:%M} has no base")
        chain.insert(0, max(bases, key=lambda b: (b.made, b.level)))
    return chain


def plan(links: list[Link], now: datetime) -> tuple[int, list[Link]]:
    """The level to make at ``now`` and the chain it builds on (empty for a full archive)."""
    usable = [link for link in links if link.complete and link.made < now and link.made.year == now.year]
    fulls = [link for link in usable if link.level == FULL]
    if not fulls:
        return FULL, []
    full = fulls[-1]
    month_bases = [link for link in usable if link.level <= MONTH and link.made >= full.made
                   and link.made.month == now.month]
    if not month_bases:
        return MONTH, [full]
    month = month_bases[-1]
    decade_bases = [link for link in usable if link.level <= DECADE and link.made >= month.made
                    and link.made.month == now.month and decade(link.made.date()) == decade(now.date())]
    if not decade_bases:
        return DECADE, chain_of(month, links)
    return DAY, chain_of(decade_bases[-1], links)


def restore_chain(links: list[Link], until: datetime) -> list[Link]:
    """The links to apply, oldest first, to get the state of the newest archive made up to ``until``."""
    candidates = [link for link in links if link.archive and link.made <= until]
    if not candidates:
        return []
    return chain_of(max(candidates, key=lambda link: (link.made, link.level)), links)


def expired(links: list[Link], now: datetime) -> list[Link]:
    """Before the month's base is made: last year's chain of this month (and older) goes.

    A year's full archive stays as long as any later link of that year needs it.
    """
    last_year = now.year - 1
    doomed = [link for link in links
              if link.made.year < last_year
              or (link.made.year == last_year and link.made.month <= now.month and link.level != FULL)]
    kept_last_year = [link for link in links if link.made.year == last_year and link not in doomed]
    if all(link.level == FULL for link in kept_last_year):
        doomed += kept_last_year
    return doomed
