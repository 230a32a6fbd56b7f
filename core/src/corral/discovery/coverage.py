"""Coverage: what discovery finds on this server that no configured job backs up.

The sites come from :func:`corral.discovery.webservers.find_sites` and their projects (root, databases) from
:func:`corral.discovery.projects.recognise`; the jobs' side from the files jobs' ``target`` and ``excludes``,
expanded as the files plugin expands them (:mod:`corral.targets`), and from each database source's
``corral_source_inventory``. Three kinds of gaps, one line each, naming the site (its first server name) or the
database and the job that would cover it:

- a site whose project root is in no files target, or is excluded, or only part of it is a target;
- a database on a configured server (a server some database job reaches) that no job dumps;
- a database an application uses on a server no job knows.

Nothing here runs anything from a site: discovery reads files, the inventory asks the database servers with the
jobs' own logins.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral import targets
from corral.config.models import JobConfig
from corral.discovery.inventory import DEFAULT_PORTS, Inventory, server_key
from corral.discovery.jobs import shown
from corral.discovery.model import Database, Project, Site
from corral.run import RunContext, Uncovered

log = logging.getLogger("corral")
# below the root: the main files find_sites starts from (a bare /etc/apache2 that a package's conf-available
# snippet made is no web server)
WEB_CONFIGS = ("etc/nginx/nginx.conf", "etc/apache2/apache2.conf", "etc/httpd/conf/httpd.conf")
ENGINES = ("mysql", "postgresql")
MAX_LOGGED = 100
"""The most gap lines and problem lines ``corral start`` logs each (a database user can create 10,000 databases)."""


@dataclass(frozen=True)
class Found:
    """An enabled site and the project behind it (None when recognising it failed)."""

    site: Site
    project: Project | None

    @property
    def name(self) -> str:
        """The site as messages name it: its first server name (its document root when it has none)."""
        return self.site.names[0] if self.site.names else str(self.site.document_root)

    @property
    def root(self) -> Path:
        """What must be backed up: the project root (above ``public/`` or ``web/``), else the document root."""
        return self.project.root if self.project is not None else self.site.document_root


@dataclass(frozen=True)
class Held:
    """One match of a files job's target pattern, with the excludes of its source."""

    job: JobConfig
    pattern: str
    path: Path
    excludes: tuple[str, ...]


def wanted(main: Any) -> bool:
    """Whether ``corral start`` looks: ``main: coverage`` when set, else when a web server is configured."""
    if main.coverage is not None:
        return bool(main.coverage)
    return has_web_server(Path(main.coverage_root))


def has_web_server(root: Path) -> bool:
    """An nginx or Apache main configuration file below ``root``, or nginx installed (``nginx -T``) when ``root``
    is ``/``."""
    if any((root / main).is_file() for main in WEB_CONFIGS):
        return True
    return root == Path("/") and shutil.which("nginx") is not None


def discover(root: Path) -> tuple[list[Found], list[str]]:
    """Every enabled site under ``root`` with its project, and what could not be read (one line each)."""
    from corral.discovery.projects import recognise
    from corral.discovery.webservers import find_sites
    from corral.probe import one_line

    sites, problems = find_sites(root)
    found: list[Found] = []
    for site in sites:
        if not site.enabled:  # not served: a disabled site is an admin's choice, not a gap
            continue
        try:
            project: Project | None = recognise(site.document_root, root=root)
        except Exception as exc:  # a bug in one recogniser must not hide the other sites
            problems.append(f"site {site.names[0] if site.names else site.document_root}: "
                            f"{site.document_root} not recognised: {one_line(exc)}")
            project = None
        if project is not None:
            problems.extend(project.problems)
        found.append(Found(site, project))
    return found, problems


# ------------------------------------------------------------------------------------------------ files


def held_paths(jobs: Iterable[JobConfig]) -> list[Held]:
    """Every path the files jobs' targets match now."""
    held = []
    for job in jobs:
        if job.group != "files":
            continue
        for source in job.sources:
            excludes = tuple(getattr(source, "excludes", ()))
            for pattern in getattr(source, "target", ()):
                held += [Held(job, pattern, path, excludes) for path in targets.expand(pattern)]
    return held


class _Paths:
    """One coverage look's path facts, each found once (300 sites and 300 jobs are 90,000 comparisons): a path
    with its links resolved, and the paths a held target's excludes match (a ``**`` exclude walks a tree)."""

    def __init__(self) -> None:
        self.real: dict[Path, str] = {}
        self.excluded: dict[tuple[Path, tuple[str, ...]], list[tuple[str, Path]]] = {}

    def within(self, path: Path, folder: Path) -> bool:
        """``path`` is ``folder`` or below it, as written or with links resolved."""
        return _below(str(path), str(folder)) or _below(self.resolved(path), self.resolved(folder))

    def excluded_by(self, path: Path, excluded: Path) -> bool:
        """``path`` is ``excluded`` or below it: tar leaves out a link, not what it points to, so only the
        folders above ``excluded`` are resolved."""
        real = os.path.join(self.resolved(excluded.parent), excluded.name)
        return _below(str(path), str(excluded)) or _below(self.resolved(path), real)

    def resolved(self, path: Path) -> str:
        if path not in self.real:
            self.real[path] = os.path.realpath(path)
        return self.real[path]

    def excludes(self, held: Held) -> list[tuple[str, Path]]:
        key = (held.path, held.excludes)
        if key not in self.excluded:
            self.excluded[key] = list(targets.excluded(held.path, held.excludes))
        return self.excluded[key]


def _below(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def site_gaps(found: Iterable[Found], held: list[Held], files_jobs: list[JobConfig]) -> list[str]:
    """One line per project root no files job holds whole (each root once, named by its first site)."""
    lines = []
    seen: set[Path] = set()
    paths = _Paths()
    for item in found:
        if item.root in seen or not os.path.lexists(item.root):  # a missing root is discovery's problem line
            continue
        seen.add(item.root)
        line = _site_gap(item, held, files_jobs, paths)
        if line is not None:
            lines.append(line)
    return lines


def _site_gap(item: Found, held: list[Held], files_jobs: list[JobConfig], paths: _Paths) -> str | None:
    root = item.root
    label = f"site {item.name} ({root})"
    excluded: tuple[Held, str] | None = None
    partly: Held | None = None
    for one in held:
        if paths.within(root, one.path):
            pattern = next((pattern for pattern, path in paths.excludes(one) if paths.excluded_by(root, path)), None)
            if pattern is None:
                return None
            excluded = excluded or (one, pattern)
        elif partly is None and paths.within(one.path, root):
            partly = one
    if excluded is not None:
        job, pattern = excluded[0].job.name, excluded[1]
        return f"{label} is excluded from files job `{job}` by `{pattern}`: take it out of the excludes"
    if partly is not None:
        return (f"{label} is only partly in files job `{partly.job.name}` (target `{partly.pattern}`): "
                f"add `{root}` to its target")
    return f"{label} is in no files job: {_files_hint(root, files_jobs)}"


def _files_hint(root: Path, files_jobs: list[JobConfig]) -> str:
    """The files job with a target pattern nearest ``root`` (the longest common folder: ``/var/www/*/`` or
    ``/var/www/shop`` for ``/var/www/blog``)."""
    if not files_jobs:
        return "add it to a desc_files job (`corral discover` writes one)"

    def nearness(job: JobConfig) -> int:
        fixed = [_fixed_part(pattern) for source in job.sources for pattern in getattr(source, "target", ())]
        return max((len(Path(os.path.commonpath([root, part])).parts) for part in fixed), default=0)

    job = max(files_jobs, key=nearness)  # the first of the nearest
    return f"add `{root}` to the target of files job `{job.name}`"


def _fixed_part(pattern: str) -> Path:
    parts = os.path.normpath(pattern).split("/")
    fixed = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts))
    return Path("/".join(parts[:fixed]) or "/")


# -------------------------------------------------------------------------------------------- databases


def inventories(jobs: Iterable[JobConfig], run: RunContext) -> tuple[list[tuple[JobConfig, Inventory]], list[str]]:
    """Each database source's server and its databases, by its plugin's ``corral_source_inventory``."""
    from corral.plugins import load_driver
    from corral.probe import one_line

    found: list[tuple[JobConfig, Inventory]] = []
    problems: list[str] = []
    for job in (job for job in jobs if job.group == "databases"):
        try:
            driver = load_driver("source", job.type)
        except Exception as exc:
            problems.append(f"job `{job.name}`: {one_line(exc)}")
            continue
        for source in job.sources or (None,):
            listed = _ask(driver, job, source, run, problems)
            if isinstance(listed, Inventory):
                found.append((job, listed))
    return found, problems


def _ask(driver: Any, job: JobConfig, source: Any, run: RunContext, problems: list[str]) -> Inventory | None:
    """One source's inventory, with a private folder for its option files; a plugin's bug is one problem line."""
    from corral.probe import one_line

    folder = Path(tempfile.mkdtemp(prefix="corral-coverage-"))
    try:
        listed: Inventory | None = driver.hook.corral_source_inventory(job=job, source=source, tmp_dir=folder, run=run)
        return listed
    except Exception as exc:
        problems.append(f"job `{job.name}`: the `{job.type}` plugin's inventory failed: {one_line(exc)}")
        return None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _where(database: Database) -> str:
    if database.socket and database.host in ("", "localhost"):
        return f"{database.engine} socket {database.socket}"
    return f"{database.engine} {database.host}:{database.port or DEFAULT_PORTS[database.engine]}"


def database_gaps(found: Iterable[Found], listed: list[tuple[JobConfig, Inventory]]) -> tuple[list[str], list[str]]:
    """One line per database no job dumps, on a configured server or on one no job knows; and the servers that
    could not be listed."""
    problems = [f"job `{job.name}`: {inventory.server}: {inventory.error}" for job, inventory in listed
                if inventory.error]
    servers: dict[tuple[str, str, int], list[tuple[JobConfig, Inventory]]] = {}
    for job, inventory in listed:
        servers.setdefault(inventory.key, []).append((job, inventory))
    used: dict[tuple[tuple[str, str, int], str], list[tuple[Found, Database]]] = {}
    for item in found:
        for database in item.project.databases if item.project is not None else ():
            if database.engine in ENGINES and database.name:
                key = server_key(database.engine, database.host, database.port)
                used.setdefault((key, database.name), []).append((item, database))
    lines = []
    for key, holders in servers.items():
        known = [inventory for _, inventory in holders if not inventory.error]
        dumped = {name for inventory in known for name in inventory.dumped}
        present = dict.fromkeys(name for inventory in known for name in inventory.databases)
        present.update(dict.fromkeys(name for (server, name) in used if server == key and known))
        for name in present:
            if name not in dumped:
                users = used.get((key, name), [])
                sites = f" (site {', '.join(dict.fromkeys(item.name for item, _ in users))})" if users else ""
                lines.append(f"database `{name}` on {holders[0][1].server}{sites} is dumped by no job: "
                             f"{_database_hint(holders)}")
    for (key, name), users in used.items():
        if key not in servers:
            item, database = users[0]
            sites = ", ".join(dict.fromkeys(one.name for one, _ in users))
            read = f", read from {database.read_from}" if database.read_from else ""
            lines.append(f"database `{name}` on {_where(database)} (site {sites}{read}) is on a server no job "
                         f"knows: add a {database.engine} job for it (`corral discover` writes one)")
    return [shown(line) for line in lines], problems  # CREATE DATABASE takes a line break: not in the log


def _database_hint(holders: list[tuple[JobConfig, Inventory]]) -> str:
    job = holders[0][0]
    return f"add it to the target of job `{job.name}` (or take it out of its excludes)"


# ------------------------------------------------------------------------------------------------ whole


def compute(jobs: list[JobConfig], run: RunContext, root: Path) -> Uncovered:
    """Every gap between what discovery finds under ``root`` and what ``jobs`` back up."""
    found, problems = discover(root)
    files_jobs = [job for job in jobs if job.group == "files"]
    sites = site_gaps(found, held_paths(files_jobs), files_jobs)
    listed, more = inventories(jobs, run)
    databases, unlisted = database_gaps(found, listed)
    # one job's sources with several logins on one server (as `corral discover` writes them) fail alike: once
    problems = [shown(problem) for problem in dict.fromkeys([*problems, *more, *unlisted])]
    return Uncovered(sites=[shown(line) for line in sites], databases=databases, problems=problems)


def at_start(jobs: list[JobConfig], run: RunContext) -> Uncovered | None:
    """``corral start``'s look: each gap a WARNING in the log (so in the notifications); discovery failing is
    one warning, never a failed run. None when coverage is off (``main: coverage``) or failed."""
    from corral.errors import Interrupted
    from corral.probe import one_line

    if not wanted(run.main):
        return None
    try:
        found = compute(jobs, run, Path(run.main.coverage_root))
    except Interrupted:
        raise
    except Exception as exc:
        log.warning("coverage: could not be looked at: %s", one_line(exc))
        return None
    for problem in found.problems[:MAX_LOGGED]:
        log.warning("coverage: %s", problem)
    if len(found.problems) > MAX_LOGGED:
        log.warning("coverage: %d more problem(s) (`corral check --coverage` lists them all)",
                    len(found.problems) - MAX_LOGGED)
    for line in found.lines[:MAX_LOGGED]:
        log.warning("not backed up: %s", line)
    if len(found.lines) > MAX_LOGGED:
        log.warning("not backed up: %d more (`corral check --coverage` lists them all)", len(found.lines) - MAX_LOGGED)
    log.info("coverage: %d site(s) and %d database(s) not backed up", len(found.sites), len(found.databases))
    return found

