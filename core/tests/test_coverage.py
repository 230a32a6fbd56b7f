"""Coverage (:mod:`corral.discovery.coverage`) with constructed sites, projects, jobs and inventories: which
sites and databases no job backs up, and the line that names each with the job that would cover it."""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from corral.config.models import JobConfig
from corral.discovery import coverage
from corral.discovery.coverage import Found, database_gaps, held_paths, site_gaps
from corral.discovery.inventory import Inventory, server_key
from corral.discovery.model import Database, Project, Site
from corral.run import RunContext, Uncovered


def files_job(name: str, *targets: str, excludes: tuple[str, ...] = ()) -> JobConfig:
    source = SimpleNamespace(target=list(targets), excludes=list(excludes))
    return JobConfig(name=name, type="desc_files", tmp_dir=Path("/tmp"), options=None, sources=[source],
                     storages=[], group="files")


def db_job(name: str, kind: str = "mysql") -> JobConfig:
    return JobConfig(name=name, type=kind, tmp_dir=Path("/tmp"), options=None, sources=[], storages=[],
                     group="databases")


def found(root: Path, *names: str, docroot: str = "", databases: tuple[Database, ...] = ()) -> Found:
    site = Site("nginx", names, root / docroot if docroot else root, Path("/etc/nginx/sites-enabled/x"), 1)
    return Found(site, Project("plain", root, databases=databases))


@pytest.fixture
def www(tmp_path: Path) -> Path:
    for name in ("shop", "blog", "crm/public", "crm/storage/framework/cache", "landing"):
        (tmp_path / "www" / name).mkdir(parents=True)
    return tmp_path / "www"


def gaps(items: list[Found], *jobs: JobConfig) -> list[str]:
    return site_gaps(items, held_paths(jobs), [job for job in jobs if job.group == "files"])


def test_a_glob_target_covers_every_site_below_it(www: Path) -> None:
    sites = [found(www / "shop", "shop.example.com"), found(www / "crm", "crm.example.com", docroot="public")]
    assert gaps(sites, files_job("www", f"{www}/*/")) == []
    assert gaps(sites, files_job("one", str(www / "shop")), files_job("two", str(www / "crm"))) == []


def test_a_site_in_no_target_names_the_job_whose_targets_start_nearest(www: Path, tmp_path: Path) -> None:
    (tmp_path / "home" / "x").mkdir(parents=True)
    sites = [found(www / "blog", "blog.example.com", "www.blog.example.com")]
    jobs = (files_job("homes", f"{tmp_path}/home/*"), files_job("sites", str(www / "shop")))
    assert gaps(sites, *jobs) == [
        f"site blog.example.com ({www}/blog) is in no files job: add `{www}/blog` to the target of files job `sites`"]
    assert gaps(sites) == [f"site blog.example.com ({www}/blog) is in no files job: add it to a desc_files job "
                           "(`corral discover` writes one)"]


def test_an_excluded_root_is_not_covered_unless_another_job_holds_it(www: Path) -> None:
    sites = [found(www / "landing", "landing.example.com")]
    excluding = files_job("www", f"{www}/*", excludes=(str(www / "land*"),))
    assert gaps(sites, excluding) == [f"site landing.example.com ({www}/landing) is excluded from files job `www` by "
                                      f"`{www}/land*`: take it out of the excludes"]
    relative = files_job("whole", str(www), excludes=("landing",))
    assert gaps(sites, relative)[0].startswith(f"site landing.example.com ({www}/landing) is excluded from files job "
                                               "`whole` by `landing`")
    assert gaps(sites, excluding, files_job("extra", str(www / "landing"))) == []
    cache_only = files_job("www", f"{www}/*", excludes=("storage/framework/cache",))  # a cache, not the site
    assert gaps([found(www / "crm", "crm.example.com", docroot="public")], cache_only) == []


def test_a_target_inside_the_project_is_only_part_of_it(www: Path) -> None:
    sites = [found(www / "crm", "crm.example.com", docroot="public")]
    assert gaps(sites, files_job("pub", str(www / "crm" / "public"))) == [
        f"site crm.example.com ({www}/crm) is only partly in files job `pub` (target `{www}/crm/public`): "
        f"add `{www}/crm` to its target"]


def test_each_project_root_once_named_by_its_first_site(www: Path) -> None:
    sites = [found(www / "shop", "shop.example.com"), found(www / "shop", "shop.example.org")]
    assert [line.split(" (")[0] for line in gaps(sites)] == ["site shop.example.com"]


def test_a_missing_document_root_is_no_gap(www: Path) -> None:
    """Nothing there to back up: recognising the project reports the missing folder as a problem instead."""
    assert gaps([found(www / "gone", "gone.example.com")], files_job("www", str(www / "shop"))) == []


def test_a_link_to_a_covered_folder_is_covered(www: Path, tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(www / "shop")
    assert gaps([found(tmp_path / "link", "shop.example.com")], files_job("www", f"{www}/*")) == []


def inventory(port: int, databases: tuple[str, ...], dumped: tuple[str, ...], error: str | None = None,
              host: str = "127.0.0.1", engine: str = "mysql") -> Inventory:
    return Inventory(engine=engine, server=f"{engine} {host}:{port}", host=host, port=port, databases=databases,
                     dumped=dumped, error=error)


def mysql(name: str, host: str = "localhost", port: int | None = None) -> Database:
    return Database("mysql", name, host=host, port=port, user="u", password="pw-never-shown",
                    read_from=Path(f"/var/www/{name}/.env"))


def test_databases_no_job_dumps_on_a_configured_server(tmp_path: Path) -> None:
    blog = found(tmp_path, "blog.example.com", databases=(mysql("blog_wp"),))
    listed = [(db_job("all-dbs"), inventory(3306, ("blog_wp", "shop", "old"), ("shop",))),
              (db_job("more"), inventory(3306, ("blog_wp", "shop", "old"), ("old",), host="localhost"))]
    lines, problems = database_gaps([blog], listed)
    assert lines == ["database `blog_wp` on mysql 127.0.0.1:3306 (site blog.example.com) is dumped by no job: add it "
                     "to the target of job `all-dbs` (or take it out of its excludes)"]
    assert problems == []


def test_a_database_on_a_server_no_job_knows(tmp_path: Path) -> None:
    crm = found(tmp_path, "crm.example.com", databases=(mysql("laravel_crm", "10.0.0.5"),))
    api = found(tmp_path / "api", "api.example.com",
                databases=(Database("postgresql", "symfony_api", host="127.0.0.1", port=5432),))
    listed = [(db_job("local"), inventory(3306, ("laravel_crm",), ("laravel_crm",)))]
    lines, _ = database_gaps([crm, api], listed)
    assert lines == [
        "database `laravel_crm` on mysql 10.0.0.5:3306 (site crm.example.com, read from /var/www/laravel_crm/.env) "
        "is on a server no job knows: add a mysql job for it (`corral discover` writes one)",
        "database `symfony_api` on postgresql 127.0.0.1:5432 (site api.example.com) is on a server no job knows: add "
        "a postgresql job for it (`corral discover` writes one)"]
    assert not any("pw-never-shown" in line for line in lines)


def test_a_used_database_the_backup_login_cannot_see_is_a_gap_and_a_listing_error_is_a_problem(tmp_path: Path) -> None:
    hidden = found(tmp_path, "news.example.com", databases=(mysql("joomla_news"),))
    lines, _ = database_gaps([hidden], [(db_job("dbs"), inventory(3306, ("shop",), ("shop",)))])
    assert lines == ["database `joomla_news` on mysql 127.0.0.1:3306 (site news.example.com) is dumped by no job: "
                     "add it to the target of job `dbs` (or take it out of its excludes)"]
    failed = inventory(3306, (), (), error="cannot list the databases: ERROR 1045 (28000): Access denied")
    lines, problems = database_gaps([hidden], [(db_job("dbs"), failed)])
    assert lines == []  # nothing is known of that server: no guess
    assert problems == ["job `dbs`: mysql 127.0.0.1:3306: cannot list the databases: ERROR 1045 (28000): Access "
                        "denied"]


def test_every_name_of_this_machine_is_one_server() -> None:
    local = {server_key("mysql", host, port) for host, port in
             [("localhost", None), ("127.0.0.1", 3306), ("", None), (None, None), ("/run/mysqld", None), ("::1", 3306)]}
    assert local == {("mysql", "local", 3306)}
    assert server_key("mysql", "127.0.0.1", 3307) != server_key("mysql", "localhost", None)
    assert server_key("postgresql", "DB.example.com", None) == ("postgresql", "db.example.com", 5432)


def _run(tmp_path: Path, **main: Any) -> RunContext:
    settings = {"coverage": None, "coverage_root": tmp_path, **main}
    return RunContext(now=datetime(2026, 1, 31, 3), main=SimpleNamespace(**settings),
                      config_path=tmp_path / "corral.conf")


def test_start_looks_only_where_a_web_server_is_configured_unless_told(tmp_path: Path) -> None:
    assert not coverage.wanted(_run(tmp_path).main)
    assert coverage.wanted(_run(tmp_path, coverage=True).main)
    (tmp_path / "etc" / "apache2" / "conf-available").mkdir(parents=True)  # a package's snippet, no Apache
    assert not coverage.wanted(_run(tmp_path).main)
    (tmp_path / "etc" / "nginx").mkdir(parents=True)
    (tmp_path / "etc" / "nginx" / "nginx.conf").write_text("events {}\n")
    assert coverage.wanted(_run(tmp_path).main)
    assert not coverage.wanted(_run(tmp_path, coverage=False).main)


def test_start_logs_each_gap_and_a_failing_discovery_is_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    run = _run(tmp_path, coverage=True)
    monkeypatch.setattr(coverage, "compute", lambda jobs, run, root: Uncovered(["site a"], ["database b"], ["p"]))
    with caplog.at_level(logging.INFO, logger="corral"):
        result = coverage.at_start([], run)
    assert result is not None and result.lines == ["site a", "database b"]
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "coverage: p"), ("WARNING", "not backed up: site a"), ("WARNING", "not backed up: database b"),
        ("INFO", "coverage: 1 site(s) and 1 database(s) not backed up")]

    def broken(*_: Any) -> Uncovered:
        raise RuntimeError("boom")

    caplog.clear()
    monkeypatch.setattr(coverage, "compute", broken)
    with caplog.at_level(logging.INFO, logger="corral"):
        assert coverage.at_start([], run) is None
    assert [(r.levelname, r.getMessage().split(":")[0]) for r in caplog.records] == [("WARNING", "coverage")]


def test_discovery_skips_disabled_sites_and_collects_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    enabled = Site("nginx", ("a.example.com",), tmp_path / "a", tmp_path / "a.conf", 1)
    disabled = Site("apache", ("b.example.com",), tmp_path / "b", tmp_path / "b.conf", 1, enabled=False)
    webservers = SimpleNamespace(find_sites=lambda root: ([enabled, disabled], ["nginx.conf:3: bad"]))
    projects = SimpleNamespace(
        recognise=lambda doc, root: Project("wordpress", doc, problems=(f"{doc}/wp-config.php: unreadable",)))
    monkeypatch.setitem(sys.modules, "corral.discovery.webservers", webservers)  # only their signatures matter
    monkeypatch.setitem(sys.modules, "corral.discovery.projects", projects)
    sites, problems = coverage.discover(tmp_path)
    assert [item.name for item in sites] == ["a.example.com"]
    assert problems == ["nginx.conf:3: bad", f"{tmp_path}/a/wp-config.php: unreadable"]


def test_many_sites_and_jobs_resolve_each_path_once_and_glob_each_exclude_once(
    www: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """300 sites, one job each (as `corral discover` writes them), one more job over all of them with a `**`
    exclude: every `corral start` compares them. Each path is resolved once and each source's excludes globbed
    once, not once per site (14 s for 300 sites, and a `**` exclude walked the whole tree 300 times)."""
    names = [f"site{i}" for i in range(300)]
    for name in names:
        (www / name).mkdir()
    sites = [found(www / name, f"{name}.example.com") for name in names]
    jobs = [files_job(name, str(www / name)) for name in names]
    jobs.append(files_job("www", str(www), excludes=("**/cache",)))
    real, globs = [], []
    monkeypatch.setattr(coverage.os.path, "realpath", lambda path: real.append(path) or os.path.abspath(path))
    excluded = coverage.targets.excluded
    monkeypatch.setattr(coverage.targets, "excluded", lambda *args: globs.append(args) or excluded(*args))
    assert gaps(sites, *jobs) == []
    assert len(real) <= 2 * (len(sites) + len(jobs)) and len(globs) <= len(jobs)


def test_names_a_database_user_chose_cannot_forge_log_lines(tmp_path: Path) -> None:
    """`CREATE DATABASE` takes a line break or a terminal escape: the gap line shows them as `?`."""
    hostile = "x\n2026-01-31 03:00:00 [INFO] run finished\x1b[2K"
    listed = [(db_job("dbs"), inventory(3306, (hostile,), ()))]
    lines, _ = database_gaps([], listed)
    assert lines == ["database `x?2026-01-31 03:00:00 [INFO] run finished?[2K` on mysql 127.0.0.1:3306 is dumped by "
                     "no job: add it to the target of job `dbs` (or take it out of its excludes)"]


def test_start_logs_at_most_max_logged_gaps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """A database user who creates 10,000 databases made 10,000 warnings in every night's log: the first
    MAX_LOGGED are logged, then how many more; the result (Prometheus, the e-mail's section) keeps them all."""
    many = [f"database `d{i}` is dumped by no job" for i in range(coverage.MAX_LOGGED + 50)]
    monkeypatch.setattr(coverage, "compute", lambda jobs, run, root: Uncovered([], many, []))
    with caplog.at_level(logging.INFO, logger="corral"):
        result = coverage.at_start([], _run(tmp_path, coverage=True))
    assert result is not None and len(result.databases) == coverage.MAX_LOGGED + 50
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == coverage.MAX_LOGGED + 2
    assert messages[-2] == "not backed up: 50 more (`corral check --coverage` lists them all)"


def test_a_linked_exclude_does_not_exclude_the_site(www: Path) -> None:
    """tar leaves out an excluded link, not what it points to: a site owner's `bitrix/cache -> ../..` made
    coverage say every night that the site is excluded (and, pointed at another site, that one)."""
    (www / "shop" / "bitrix").mkdir()
    (www / "shop" / "bitrix" / "cache").symlink_to("../..")
    job = files_job("www", f"{www}/*", excludes=("bitrix/cache",))
    assert gaps([found(www / "shop", "shop.example.com"), found(www / "blog", "blog.example.com")], job) == []
