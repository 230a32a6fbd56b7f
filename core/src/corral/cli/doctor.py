"""``corral doctor [JOB|all] [--json] -c MAIN``: check what the jobs need on this server (docs/doctor.md)."""

from __future__ import annotations

import contextlib
import json
from typing import Annotated

import typer

from corral.cli.options import DEFAULT_CONFIG, ConfigOption, load_selected
from corral.errors import EXIT_FAILED, EXIT_OK, CorralError


def doctor(
    job: Annotated[str, typer.Argument(help="a job name, or all, files, databases, external")] = "all",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document on stdout, for scripts")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Check what the jobs need before their first night: programs and versions, servers, every storage (a
    probe file stored, read back, deleted), the work area, the config files' permissions. One line per check
    (ok, warn or FAIL); exit 1 when any check failed."""
    from corral import clock
    from corral.config import load_yaml
    from corral.doctor import examine
    from corral.doctoring import FAIL, WARN
    from corral.masking import Masker
    from corral.run import RunContext

    loaded, names = load_selected(config, job)
    read: dict[str, str] = {}
    with contextlib.suppress(CorralError):  # it loaded a moment ago; read again only to learn its files
        load_yaml(config, read)
    run = RunContext(now=clock.now(), main=loaded.main, config_path=config, mask=Masker(loaded.secrets))
    checks = examine(loaded, names, read, run, say=None if as_json else lambda check: typer.echo(check.line()))
    failed = sum(check.status == FAIL for check in checks)
    warned = sum(check.status == WARN for check in checks)
    if as_json:
        typer.echo(json.dumps({"config": str(config), "ok": not failed, "checks": [
            {"status": check.status, "subject": check.subject, "text": check.text} for check in checks]}, indent=2))
    else:
        typer.echo(f"doctor: {len(checks) - failed - warned} ok, {warned} warning(s), {failed} failure(s)")
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)
