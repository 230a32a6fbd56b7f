"""``corral check [--json] -c MAIN``: validate the whole configuration without running anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from corral.cli.options import DEFAULT_CONFIG, ConfigOption
from corral.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CorralError


def check(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document on stdout, for scripts")] = False,
    coverage: Annotated[bool, typer.Option(
        "--coverage", help="also list the sites and databases on this server that no job backs up (exit 1 if any)"
    )] = False,
    root: Annotated[Path | None, typer.Option(
        "--root", help="with --coverage: read the web servers and sites below this folder (default: main's "
        "coverage_root, /)", file_okay=False,
    )] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Validate the configuration and the plugins it needs: exit 2 when it is wrong, 1 when a job cannot run (or,
    with --coverage, when something on this server is backed up by no job)."""
    from corral.config import load_config
    from corral.workarea import preflight

    report: dict[str, Any] = {"config": str(config), "ok": False, "jobs": [], "unavailable": [], "warnings": [],
                              "errors": []}  # keys: docs/cli.md
    try:
        loaded = load_config(config)
    except CorralError as error:
        report["errors"] = str(error).splitlines() or [type(error).__name__]
        from corral.migrate.detect import hint

        nxs = hint(config)  # an nxs-backup file: what to run, not a list of unknown keys
        if nxs is not None:
            report["errors"] = [nxs]
        _finish(report, error.exit_code or EXIT_USAGE, as_json, config)
        return
    report["jobs"] = [{"name": job.name, "type": job.type} for job in loaded.jobs]
    report["warnings"] = list(loaded.warnings)
    report["errors"] = [f"{config}: {problem}" for problem in preflight(loaded.main, loaded.jobs)]
    report["unavailable"] = [{"name": name, "problems": problems} for name, problems in loaded.unavailable.items()]
    code = EXIT_USAGE if report["errors"] else EXIT_FAILED if report["unavailable"] else EXIT_OK
    if coverage and code != EXIT_USAGE:  # a wrong configuration says nothing of what its jobs cover
        report["coverage"] = _coverage(loaded, config, root)
        if report["coverage"]["sites"] or report["coverage"]["databases"]:
            code = max(code, EXIT_FAILED)
    _finish(report, code, as_json, config)


def _coverage(loaded: Any, config: Path, root: Path | None) -> dict[str, Any]:
    """What discovery finds that no job backs up (:mod:`corral.discovery.coverage`), masked; a failure of
    discovery itself is one problem line."""
    from corral import clock
    from corral.discovery.coverage import compute
    from corral.masking import Masker
    from corral.probe import one_line
    from corral.run import RunContext, Uncovered

    mask = Masker(loaded.secrets)
    where = (root or loaded.main.coverage_root).absolute()
    run = RunContext(now=clock.now(), main=loaded.main, config_path=config, mask=mask)
    try:
        found = compute(loaded.jobs, run, Path(where))
    except Exception as exc:
        found = Uncovered(problems=[f"discovery failed: {one_line(exc)}"])
    return {"root": str(where), "sites": [mask(line) for line in found.sites],
            "databases": [mask(line) for line in found.databases], "problems": [mask(p) for p in found.problems]}


def _finish(report: dict[str, Any], code: int, as_json: bool, config: Path) -> None:
    report["ok"] = code == EXIT_OK
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        for warning in report["warnings"]:
            typer.echo(f"corral: warning: {warning}", err=True)
        for error in report["errors"]:
            typer.echo(f"corral: error: {error}", err=True)
        if "coverage" in report:
            for problem in report["coverage"]["problems"]:
                typer.echo(f"corral: warning: coverage: {problem}", err=True)
            for line in report["coverage"]["sites"] + report["coverage"]["databases"]:
                typer.echo(f"not backed up: {line}")
        if code != EXIT_USAGE:  # a wrong configuration is not looked at job by job: `start` would refuse it
            for job in report["unavailable"]:
                for problem in job["problems"]:
                    typer.echo(f"corral: error: job `{job['name']}` cannot run: {problem}", err=True)
        if code == EXIT_OK:
            typer.echo(f"{config}: ok ({len(report['jobs'])} job(s))")
    raise typer.Exit(code)
