"""``corral start``: validate, take the lock, lower priority, run the selected jobs, notify."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from corral import children, clock, limits, logs, workarea
from corral.config import Config, load_config, load_yaml
from corral.discovery import coverage
from corral.errors import EXIT_FAILED, EXIT_OK, AlreadyRunning, ConfigError, CorralError, Interrupted
from corral.lock import RunLock, run_lock
from corral.masking import Masker
from corral.plugins import broadcast, new_manager
from corral.progress import on_terminal
from corral.run import JobResult, RunContext, RunResult
from corral.runner import run_job, select_jobs

log = logging.getLogger("corral")


@contextlib.contextmanager
def _orderly_signals(run: RunContext) -> Iterator[None]:
    """SIGTERM and SIGINT stop the child programs and unwind the run through its cleanup code."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        run.signal_processes()
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _clean_after_dead_run(lock: RunLock, config: Config) -> None:
    """A run that died (``kill -9``, power loss) left programs and work folders: end and remove them."""
    if lock.previous:
        children.kill_leftovers(lock.previous.get("run", ""), lock.previous.get("session", ""))
    workarea.remove_dead_work_dirs(job.tmp_dir for job in config.jobs)


def _log_broken_main(config_path: Path, error: ConfigError) -> None:
    """The main section is broken, so no job runs and no notifier is trusted; the log file still gets the lines
    when the file names one that is usable."""
    try:
        raw = load_yaml(config_path)
        path = raw["main"]["log_file_name"]
    except (CorralError, LookupError, TypeError):
        return
    if not isinstance(path, str) or "\0" in path or not Path(path).is_absolute():
        return
    try:
        logs.setup(Path(path), (), console_level=logging.CRITICAL + 1)  # stderr gets the lines from the CLI
    except (CorralError, OSError):
        return
    for problem in error.problems:
        log.error("configuration error, no job runs: %s", problem)
    logs.close()


def start(config_path: Path, selection: str = "all", console: int = logging.INFO) -> tuple[int, RunResult]:
    """Run the selected jobs; returns the exit code and the result. ``console``: the lowest level of the log
    lines printed on stderr (:func:`corral.logs.console_threshold`)."""
    os.umask(0o077)  # everything corral and its children write is the running user's alone
    try:
        config = load_config(config_path, partial=True)
    except ConfigError as error:
        _log_broken_main(config_path, error)
        raise
    main = config.main
    collector = logs.setup(main.log_file_name, config.secrets, console)
    for warning in config.warnings:
        log.warning("%s", warning)
    names = select_jobs(config, selection)
    run = RunContext(now=clock.now(), main=main, config_path=config_path, mask=Masker(config.secrets))
    lock = run_lock(main)  # the work area is checked here, before any job
    events = config.notifiers or new_manager()
    progress = on_terminal() if console <= logging.INFO else None
    if progress is not None:
        events.register(progress, name="corral:progress")
    jobs = {job.name: job for job in config.jobs}
    result = RunResult(started=run.now)
    started = time.monotonic()
    code = EXIT_OK
    try:
        with lock, limits.cgroup_limits(main), _orderly_signals(run):
            _clean_after_dead_run(lock, config)
            limits.lower_priority()
            log.info("run started: %s (%d job(s)) on %s", selection, len(names), main.server_name)
            broadcast(events, "corral_run_started", run=run)
            for name in names:
                if name in config.unavailable:
                    for problem in config.unavailable[name]:
                        log.error("job cannot run: %s", problem, extra={"job": name})
                    result.jobs.append(JobResult(job=name, type="?", errors=config.unavailable[name]))
                    continue
                result.jobs.append(run_job(jobs[name], run, events))
            result.uncovered = coverage.at_start(config.jobs, run)  # after the backups: they come first
    except AlreadyRunning as exc:  # a hung run would block every night: the admins hear of it like a failure
        log.error("%s", exc)
        result.blocked = str(exc)
        code = exc.exit_code
    except Interrupted as exc:
        result.interrupted = exc.signum
        if isinstance(exc.job_result, JobResult):
            result.jobs.append(exc.job_result)
        code = exc.exit_code
        run.stop_processes()
    if code == EXIT_OK and not result.ok:
        code = EXIT_FAILED
    _finish(run, result, collector, events, started)
    return code, result


def _finish(
    run: RunContext, result: RunResult, collector: logs.Collector, events: object, started: float
) -> None:
    result.seconds = time.monotonic() - started
    failed = [job.job for job in result.jobs if not job.ok]
    if result.interrupted:
        archives, copies = result.stored
        log.error("run interrupted by signal %d after %.1f s (%s); %d archive(s) were stored before it (%d cop(ies) in "
                  "all); programs stopped, work folders removed, lock released", result.interrupted, result.seconds,
                  result.verdict().partition(": ")[2], archives, copies)
    elif failed:
        log.error("run finished in %.1f s: %d job(s) failed: %s", result.seconds, len(failed), ", ".join(failed))
    elif not result.blocked:
        log.info("run finished in %.1f s: %d job(s) succeeded", result.seconds, len(result.jobs))
    result.log = list(collector.entries)
    run.mask.scrub(result)  # the summary on stdout and every notifier get the masked texts only
    broadcast(events, "corral_run_finished", run=run, result=result)  # type: ignore[arg-type]
