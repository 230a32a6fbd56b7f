"""``corral verify [JOB|all] [--storage S] [--newest | --all] [--deep] -c MAIN``: prove stored archives against
their manifests (docs/verify.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from corral.cli.options import DEFAULT_CONFIG, ConfigOption, load_selected
from corral.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, AlreadyRunning, CorralError

if TYPE_CHECKING:
    from corral.verify import VerifyResult


def verify(
    job: Annotated[str, typer.Argument(help="a job name, or all, files, databases, external")] = "all",
    storage: Annotated[str | None, typer.Option(
        "--storage", "-s", help="only this storage: its kind (`sftp`) or its label (`local#2`)")] = None,
    newest: Annotated[bool, typer.Option("--newest", help="each target's newest archive (the default)")] = False,
    every: Annotated[bool, typer.Option("--all", help="every stored archive")] = False,
    deep: Annotated[bool, typer.Option(
        "--deep", help="also decode each archive with its standard tool (tar -t, zstd -t, pg_restore -l...)")] = False,
    identity: Annotated[Path | None, typer.Option(
        "--identity", "-i", help="age secret key file: --deep decodes encrypted archives too")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="also print the archives that are ok")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Re-read archives from each storage and check their size and SHA-256 against the manifests corral wrote
    beside them. Exit 0 only when every archive checked is ok; one line per bad or unverifiable archive."""
    from datetime import datetime

    from corral import clock
    from corral.lock import run_lock
    from corral.masking import Masker
    from corral.plugins import broadcast, new_manager
    from corral.run import RunContext
    from corral.verify import VerifyResult

    if newest and every:
        typer.echo("corral: error: give --newest or --all, not both", err=True)
        raise typer.Exit(EXIT_USAGE)
    loaded, names = load_selected(config, job)
    mask = Masker(loaded.secrets)
    run = RunContext(now=clock.now(), main=loaded.main, config_path=config, mask=mask)
    result = VerifyResult(started=run.now, deep=deep)
    lock = run_lock(loaded.main)
    try:
        with lock:  # one run at a time: an archive being written has no manifest yet
            _verify_jobs(loaded, names, storage, every, deep, identity, result)
            result.finished = datetime.now()
            mask.scrub(result)
            _record(loaded, names, run, result)  # under the lock: no rotation runs meanwhile
    except AlreadyRunning as exc:
        typer.echo(f"corral: error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    _show(result, verbose)
    broadcast(loaded.notifiers or new_manager(), "corral_verify_finished", run=run, result=result)
    if not result.storages:
        typer.echo(f"corral: error: no enabled storage{f' `{storage}`' if storage else ''} in the jobs chosen",
                   err=True)
        raise typer.Exit(EXIT_USAGE)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_FAILED)


def _verify_jobs(loaded: Any, names: set[str], storage: str | None, every: bool, deep: bool, identity: Path | None,
                 result: VerifyResult) -> None:  # fmt: skip
    """Each chosen job's enabled storages (or only ``storage``), one :class:`StorageCheck` each in ``result``."""
    from corral.debugging import explain
    from corral.runner import Storage, storage_labels
    from corral.verify import StorageCheck, verify_storage

    for job_config in loaded.jobs:
        if job_config.name not in names:
            continue
        for storage_config, label in zip(job_config.storages, storage_labels(job_config), strict=True):
            if not storage_config.enable or storage not in (None, label, storage_config.name):
                continue
            check = StorageCheck(job_config.name, label, storage_config.backup_dir)
            result.storages.append(check)
            opened = None
            try:
                opened = Storage(storage_config, job_config, label)
                check.location = opened.location
                verify_storage(opened, job_config, every, deep, check, identity)
            except CorralError as exc:
                check.error = str(exc)
            except Exception as exc:
                check.error = explain(exc)
            finally:
                if opened is not None:
                    opened.close()


def _record(loaded: Any, names: set[str], run: Any, result: VerifyResult) -> None:
    """Each verified job's run record on each of its enabled storages (docs/run-records.md): a warning when
    one cannot be written, never another exit code."""
    from corral.records import verify_record, write_for_jobs

    checked = {check.job for check in result.storages}
    jobs = [job for job in loaded.jobs if job.name in names and job.name in checked]
    unreadable = {(check.job, check.storage) for check in result.storages if check.error}
    for line in write_for_jobs("verify", jobs, run, lambda job: verify_record(job, run, result), unreadable):
        typer.echo(f"corral: warning: {line}", err=True)


def _show(result: VerifyResult, verbose: bool) -> None:
    """One line per archive that is not ok (and per ok one with ``verbose``), then a count."""
    for storage in result.storages:
        where = f"job {storage.job}, storage {storage.storage}"
        if storage.error:
            typer.echo(f"ERROR {where}: {storage.error.splitlines()[0] if storage.error else ''}")
        elif not storage.archives:
            typer.echo(f"EMPTY {where}: no archive stored in `{storage.location}{storage.backup_dir}`")
        for check in storage.archives:
            if verbose or not check.ok:
                typer.echo(f"{check.status.upper() if not check.ok else 'ok'} {where}: `{check.path}`: {check.detail}")
    checks = result.archives
    bad = sum(1 for check in checks if not check.ok and check.status != "unverifiable")
    unverifiable = sum(1 for check in checks if check.status == "unverifiable")
    failed = sum(1 for storage in result.storages if storage.error)
    typer.echo(f"verify{' --deep' if result.deep else ''}: {len(checks) - bad - unverifiable} archive(s) ok, "
               f"{bad} bad, {unverifiable} unverifiable, on {len(result.storages)} storage(s)"
               + (f"; {failed} storage(s) could not be read" if failed else ""))
