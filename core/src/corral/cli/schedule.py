"""``corral schedule install|show|remove``: the nightly run as a systemd timer, or a cron file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from corral.cli.options import DEFAULT_CONFIG, ConfigOption

app = typer.Typer(
    help="Run corral every night: a systemd service and timer, or a cron file where systemd is absent.",
    no_args_is_help=True,
)

RootOption = Annotated[
    Path,
    typer.Option("--root", metavar="DIR", help="the system's root folder: files go under it, systemctl runs only for / "
                 "(packagers, tests)"),
]


@app.command("install")
def install(
    at: Annotated[str, typer.Option("--at", help="time of day, HH:MM (local time)")] = "02:30",
    jobs: Annotated[str, typer.Option("--jobs", help="what to start: a job name, or all, files, databases, "
                                      "external")] = "all",
    config: ConfigOption = DEFAULT_CONFIG,
    systemd: Annotated[
        bool | None,
        typer.Option("--systemd/--cron", help="a systemd timer or a cron file (default: systemd where it runs)",
                     show_default=False),
    ] = None,
    runtime_max: Annotated[
        str, typer.Option("--runtime-max", metavar="SPAN", help="stop a run still going after this long (23h, 90min)")
    ] = "23h",
    random_delay: Annotated[
        str | None,
        typer.Option("--random-delay", metavar="SPAN", help="start up to this much later, at random (systemd only)"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the files instead of writing them")] = False,
    root: RootOption = Path("/"),
) -> None:
    """Write the nightly schedule (replacing one corral wrote) and, on the running system, enable it."""
    from corral import clock
    from corral import schedule as scheduling
    from corral.cli import fail

    try:
        hour, minute = scheduling.parse_at(at)
        scheduling.span_seconds(runtime_max, "--runtime-max")
        if random_delay is not None:
            scheduling.span_seconds(random_delay, "--random-delay")
        if jobs.startswith("-") or not jobs.strip():
            raise scheduling.ScheduleUsage(f"--jobs `{jobs}` is not a job name, nor all, files, databases, external")
        _known_jobs(jobs, root / config.absolute().relative_to("/"))
        use_systemd = scheduling.systemd_live(root) if systemd is None else systemd
        planned = scheduling.Schedule(scheduling.running_corral(), hour, minute, jobs, config.absolute(),
                                      runtime_max, random_delay)  # fmt: skip
        texts = scheduling.files(planned, root, use_systemd)
        if dry_run:
            for path, text in texts.items():
                typer.echo(f"# {path} (--dry-run: not written)\n{text}")
            return
        stale = scheduling.install(planned, root, use_systemd)
    except scheduling.ScheduleError as error:
        fail(error)
        return
    for path in texts:
        typer.echo(f"wrote {path}")
    for path in stale:
        typer.echo(f"removed {path}")
    for path in scheduling.foreign(root, scheduling.FILES):
        typer.echo(f"corral: note: {scheduling.not_ours(path)} and may run corral too", err=True)
    if not (root / planned.config.relative_to("/")).is_file():
        typer.echo(f"corral: note: `{planned.config}` does not exist yet; each run will fail until it does", err=True)
    typer.echo(f"next run: {scheduling.next_time(hour, minute, clock.now()):%Y-%m-%d %H:%M} (local time)")


def _known_jobs(jobs: str, config: Path) -> None:
    """Refuse ``--jobs`` naming a job the configuration (when it is there to read) does not have: every night
    would fail."""
    from corral import schedule as scheduling
    from corral.cli.complete import SELECTORS
    from corral.config.loader import load_yaml

    if not config.is_file():
        return
    try:
        data = load_yaml(config)
        names = {job.get("job") for job in data.get("jobs") or () if isinstance(job, dict)}
    except Exception:  # broken or unreadable: corral check says why; the schedule itself is still right
        return
    unknown = [jobs] if jobs not in names and jobs not in SELECTORS else []
    if unknown:
        raise scheduling.ScheduleUsage(f"--jobs `{unknown[0]}` is no job of `{config}` (its jobs: "
                                       f"{', '.join(sorted(str(name) for name in names)) or 'none'}), nor all, "
                                       "files, databases, external")


@app.command("show")
def show(root: RootOption = Path("/")) -> None:
    """Print the schedule files corral wrote and the next run; exit 1 when none is installed."""
    from corral import clock
    from corral import schedule as scheduling

    found = False
    for path in (root / relative for relative in scheduling.FILES):
        owned = scheduling.ours(path)
        if owned is None:
            continue
        if not owned:
            typer.echo(f"{path}: not written by corral")
            continue
        found = True
        text = path.read_text(encoding="utf-8")
        typer.echo(f"# {path}\n{text}")
        when = scheduling.next_run(text, clock.now())
        if when is not None:
            typer.echo(f"next run: {when:%Y-%m-%d %H:%M} (local time)\n")
    if not found:
        typer.echo("no schedule installed: `corral schedule install` writes one")
        raise typer.Exit(1)


@app.command("remove")
def remove(root: RootOption = Path("/")) -> None:
    """Remove the schedule files corral wrote (never another's file); exit 1 when a foreign one is in the way."""
    from corral import schedule as scheduling
    from corral.cli import fail

    try:
        removed, others = scheduling.remove(root)
    except scheduling.ScheduleError as error:
        fail(error)
        return
    for path in removed:
        typer.echo(f"removed {path}")
    if not removed:
        typer.echo("no schedule installed by corral")
    for path in others:
        typer.echo(f"corral: error: {scheduling.not_ours(path)}: remove it yourself if it is no longer wanted",
                   err=True)  # fmt: skip
    if others:
        raise typer.Exit(1)
