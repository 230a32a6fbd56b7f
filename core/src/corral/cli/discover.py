"""``corral discover [--write FILE] [--root R] [--incremental] [--force] [--json] -c MAIN``: the sites and
databases of this server, and the jobs that back them up (docs/discover.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from corral.cli.options import DEFAULT_CONFIG, ConfigOption
from corral.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from corral.discovery.jobs import Found, Plan

INCLUDE_HINT = "jobs: !include [conf.d/*.conf]"


def discover(
    write: Annotated[Path | None, typer.Option(
        "--write", "-w", metavar="FILE", help="write the jobs to FILE (and the passwords to FILE's credentials "
        "folder); default: print them, passwords left out")] = None,
    root: Annotated[Path, typer.Option(
        "--root", metavar="DIR", help="the server's filesystem: a copy or mount of it")] = Path("/"),
    incremental: Annotated[bool, typer.Option(
        "--incremental", help="inc_files jobs for the sites instead of desc_files")] = False,
    force: Annotated[bool, typer.Option("--force", help="overwrite FILE even if it was edited by hand")] = False,
    backup_dir: Annotated[Path, typer.Option(
        "--backup-dir", metavar="DIR", help="the local storage's backup_dir")] = Path("/var/backups/corral"),
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document on stdout, for scripts")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Find every site the web servers serve and the databases behind them, and write the jobs that back them
    up. A second run shows what changed and never overwrites a file edited by hand without --force."""
    from corral.discovery import jobs

    if not root.is_dir():
        typer.echo(f"corral: error: --root `{root}` is not a folder", err=True)
        raise typer.Exit(EXIT_USAGE)
    if not backup_dir.is_absolute():
        typer.echo(f"corral: error: --backup-dir `{backup_dir}` must be an absolute path", err=True)
        raise typer.Exit(EXIT_USAGE)
    root = Path(os.path.abspath(root))  # the jobs' targets are absolute paths
    found, problems = jobs.find(root)
    credentials = jobs.credentials_dir(write) if write is not None else Path("discovered.credentials")
    plan = jobs.plan(found, incremental=incremental, backup_dir=backup_dir, credentials=credentials.name)
    problems = [*problems, *plan.problems]
    text = jobs.render(plan, root=root, credentials=credentials.name)
    report: dict[str, Any] = {"root": str(root), "sites": [_site_json(item, plan) for item in found],
                              "problems": problems, "jobs": [_job_json(job) for job in plan.jobs],
                              "file": str(write) if write else None, "written": False, "changes": [], "diff": "",
                              "refused": None}
    code = EXIT_OK
    if write is None:
        report["yaml"] = text
    else:
        code = _write(write, text, plan, force, report, credentials)
    report["included"] = jobs.included_by(config, write) if write is not None else None
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        raise typer.Exit(code)
    say = (lambda line: typer.echo(line, err=True)) if write is None else typer.echo  # stdout: the YAML
    for item in found:
        say(_site_line(item, plan))
    for problem in problems:
        say(f"problem: {jobs.shown(problem)}")
    say(_summary(found, plan))
    if not found:
        say(f"note: no site found: no nginx or Apache configuration under {root} declares one (/etc/nginx, "
            "/etc/apache2, /etc/httpd)")
    if write is None:
        typer.echo(text, nl=False)
        say(f"passwords are left out: --write FILE writes them to FILE's credentials folder; include FILE from "
            f"the main file ({INCLUDE_HINT})")
        raise typer.Exit(code)
    for change in report.get("changes", []):
        typer.echo(change)
    if report["diff"]:
        typer.echo(report["diff"], nl=False)
    if report["refused"]:
        typer.echo(f"corral: error: {report['refused']}", err=True)
    elif report["written"]:
        typer.echo(f"wrote {write} ({len(plan.jobs)} job(s)) and {len(plan.secrets)} password file(s) in "
                   f"{credentials}/")
    else:
        typer.echo(f"{write}: up to date")
    included = report["included"]
    if included is False:
        typer.echo(f"note: `{config}` does not include `{write}`: add it to its `jobs: !include [...]` "
                   f"({INCLUDE_HINT} includes every file of conf.d)")
    elif included is None:
        typer.echo(f"note: include `{write}` from the main file `{config}` ({INCLUDE_HINT})")
    raise typer.Exit(code)


def _write(path: Path, text: str, plan: Plan, force: bool, report: dict[str, Any], credentials: Path) -> int:
    """Write ``text`` to ``path`` unless a hand-edited file is there (without --force); the diff into report."""
    from corral.discovery import jobs

    try:
        old = jobs.read_existing(path)
        if old is not None:
            report["diff"] = jobs.unified(old, text, str(path))
            report["changes"] = jobs.changes(old, text)
            if not jobs.written_by_corral(old) and not force:
                report["refused"] = (f"`{path}` was changed since corral discover wrote it: not overwritten "
                                     "(--force overwrites it; the diff above shows what would change)")
                return EXIT_FAILED
            if jobs.body_of(old) == jobs.body_of(text) and jobs.written_by_corral(old):
                jobs.write(path, old, plan.secrets, credentials, job_file=False)  # passwords may have changed
                return EXIT_OK
        jobs.write(path, text, plan.secrets, credentials)
    except jobs.WriteError as exc:
        report["refused"] = str(exc)
        return EXIT_USAGE
    report["written"] = True
    return EXIT_OK


def _site_json(item: Found, plan: Plan) -> dict[str, Any]:
    site, project = item.site, item.project
    return {
        "server": site.server, "names": list(site.names), "document_root": str(site.document_root),
        "declared_in": f"{site.declared_in}:{site.line}", "enabled": site.enabled,
        "project_root": str(project.root) if project else None, "kind": project.kind if project else None,
        "databases": [{"engine": d.engine, "name": d.name, "host": d.host, "port": d.port, "socket": d.socket,
                       "user": d.user, "read_from": str(d.read_from) if d.read_from else None}
                      for d in (project.databases if project else ())],
        "job": plan.site_jobs.get(project.root) if project else None,
    }


def _job_json(job: dict[str, Any]) -> dict[str, Any]:
    targets = [target for source in job["sources"] for target in source["target"]]
    return {"name": job["job"], "type": job["type"], "targets": targets}


def _site_line(item: Found, plan: Plan) -> str:
    """``nginx shop.example.com www.shop.example.com -> /var/www/shop (bitrix; mysql shop_bitrix) job shop...``"""
    from corral.discovery.jobs import shown

    site, project = item.site, item.project
    names = " ".join(site.names) or "(no server name)"
    if not site.enabled:
        return shown(f"skipped {site.server} {names} -> {site.document_root}: not enabled "
                     f"({site.declared_in}:{site.line})")
    if project is None:
        return shown(f"{site.server} {names} -> {site.document_root}: project not read")
    databases = ", ".join(f"{d.engine} {d.name}" for d in project.databases) or "no database"
    job = plan.site_jobs.get(project.root)
    return shown(f"{site.server} {names} -> {project.root} ({project.kind}; {databases})"
                 + (f": job {job}" if job else ": no job"))


def _summary(found: list[Found], plan: Plan) -> str:
    from corral.discovery.jobs import server_key

    enabled = [item for item in found if item.site.enabled]
    databases = {(server_key(d), d.name) for item in enabled if item.project for d in item.project.databases}
    return (f"{len(found)} site(s), {len(enabled)} enabled, {len(found) - len(enabled)} skipped; "
            f"{len(databases)} database(s) on {len(plan.database_jobs)} server(s); {len(plan.jobs)} job(s)")

