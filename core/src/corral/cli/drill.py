"""``corral drill [JOB|all] [--target T] [--storage S] [--identity F] -c MAIN``: prove the newest backups restore
(docs/drill.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from corral.cli.options import DEFAULT_CONFIG, ConfigOption, load_selected
from corral.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, AlreadyRunning, Interrupted

if TYPE_CHECKING:
    from corral.drill import DrillResult


def drill(
    job: Annotated[str, typer.Argument(help="a job name, or all, files, databases, external")] = "all",
    target: Annotated[str | None, typer.Option("--target", "-t", help="only this target")] = None,
    storage: Annotated[str | None, typer.Option(
        "--storage", "-s", help="drill from this storage: its kind (`sftp`) or label (`local#2`); default: the "
        "first that holds backups")] = None,
    identity: Annotated[Path | None, typer.Option(
        "--identity", "-i", help="age secret key file, for jobs whose archives are encrypted")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="also print each restore step")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Restore each target's newest backup into a scratch place corral owns (a temp folder, a throwaway server on
    127.0.0.1), compare it with what was recorded when it was made, run the job's `drill: checks`, and throw it
    away. One line per target; exit 0 only when every drill passed."""
    import logging
    import signal
    from datetime import datetime

    from corral import clock
    from corral.app import _orderly_signals
    from corral.drill import DrillResult, drill_job
    from corral.lock import run_lock
    from corral.masking import Masker
    from corral.plugins import broadcast, new_manager
    from corral.run import RunContext

    if identity is not None and not identity.is_file():
        typer.echo(f"corral: error: --identity `{identity}` is not a file (the age secret key)", err=True)
        raise typer.Exit(EXIT_USAGE)
    loaded, names = load_selected(config, job)
    mask = Masker(loaded.secrets)
    run = RunContext(now=clock.now(), main=loaded.main, config_path=config, mask=mask)
    result = DrillResult(started=datetime.now())
    say = typer.echo if verbose else (lambda line: logging.getLogger("corral").debug("%s", line))
    lock = run_lock(loaded.main)
    code = EXIT_OK
    try:
        with lock, _orderly_signals(run):  # one run at a time: a drill never competes with the night's backup
            for job_config in loaded.jobs:
                if job_config.name in names:
                    drill_job(job_config, run, result, storage, identity, target, say)
            if target is None or result.targets:  # a typo of a target is a usage error (below), no drill
                result.finished = datetime.now()
                mask.scrub(result)
                _record(loaded, names, run, result)  # under the lock: no rotation runs meanwhile
    except AlreadyRunning as exc:
        result.errors.append(str(exc))
        code = exc.exit_code
    except Interrupted as exc:
        run.stop_processes()
        result.errors.append(f"interrupted by signal {exc.signum} ({signal.Signals(exc.signum).name})")
        code = exc.exit_code
    result.finished = datetime.now()
    if target is not None and code == EXIT_OK and not result.targets:  # a typo, not a failed drill
        typer.echo(f"corral: error: no backup of a target `{target}` in the jobs chosen ({', '.join(sorted(names))})",
                   err=True)
        raise typer.Exit(EXIT_USAGE)
    mask.scrub(result)
    _show(result)
    broadcast(loaded.notifiers or new_manager(), "corral_drill_finished", run=run, result=result)
    if code == EXIT_OK and not result.ok:
        code = EXIT_FAILED
    raise typer.Exit(code)


def _record(loaded: Any, names: set[str], run: Any, result: DrillResult) -> None:
    """Each drilled job's run record on each of its enabled storages (docs/run-records.md): a warning when
    one cannot be written, never another exit code."""
    from corral.records import drill_record, write_for_jobs

    jobs = [job for job in loaded.jobs if job.name in names]
    for line in write_for_jobs("drill", jobs, run, lambda job: drill_record(job, run, result)):
        typer.echo(f"corral: warning: {line}", err=True)


def _show(result: DrillResult) -> None:
    for drilled in result.targets:
        if drilled.skipped:
            typer.echo(f"{drilled.job}/{drilled.target}: not drilled: {drilled.skipped}")
            continue
        head = f"{drilled.job}/{drilled.target}: restored in {drilled.seconds:.1f} s ({drilled.restored})"
        if drilled.ok:
            checks = f"; {drilled.checks} check(s) passed" if drilled.checks else ""
            typer.echo(f"{head}: passed{checks}")
        else:
            typer.echo(f"{drilled.job}/{drilled.target}: FAILED after {drilled.seconds:.1f} s: "
                       f"{'; '.join(drilled.problems)}")
    for error in result.errors:
        typer.echo(f"corral: error: {error}", err=True)
    passed = sum(1 for drilled in result.drilled if drilled.ok)
    skipped = len(result.targets) - len(result.drilled)
    typer.echo(f"{'DRILL PASSED' if result.ok else 'DRILL FAILED'}: {passed} of {len(result.drilled)} target(s) "
               f"restored as recorded{f'; {skipped} not drilled' if skipped else ''}")

