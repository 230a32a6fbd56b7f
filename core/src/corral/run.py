"""What a run shares with plugins (:class:`RunContext`) and what it reports (:class:`RunResult`)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from corral.masking import Masker


def human_size(size: int) -> str:
    """``16 B``, ``1.5 MiB``: sizes as messages and logs show them."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


@dataclass(frozen=True)
class LogEntry:
    """One line of the run's log, as notifiers receive it."""

    time: datetime
    level: str
    job: str | None
    message: str


@dataclass
class ArchiveOutcome:
    """One archive of a job and where it went, by storage label.

    ``sha256`` (hex) and ``size`` are the bytes every storage received; with ``extension`` and the source's
    ``facts`` they make the archive's manifest entry (``corral.manifest``).
    """

    target: str
    size: int
    stored: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    sha256: str = ""
    extension: str = ""
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class StoredFile:
    target: str
    path: str
    size: int
    seconds: float


@dataclass
class StorageOutcome:
    """What happened on one configured storage of a job.

    ``label`` tells apart two storages of the same kind in one job (``local``, ``local#2``).
    """

    name: str
    label: str
    backup_dir: str
    enabled: bool = True
    stored: list[StoredFile] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.enabled and not self.failures

    @property
    def size(self) -> int:
        return sum(item.size for item in self.stored)


@dataclass
class JobResult:
    """What one job did; ``ok`` only when nothing failed."""

    job: str
    type: str
    archives: list[ArchiveOutcome] = field(default_factory=list)
    storages: list[StorageOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    started: datetime | None = None
    finished: datetime | None = None

    def summary(self) -> str:
        """``ok shop-db (mysql): 2 archive(s), 1.5 MiB, 3.2 s``."""
        total = sum(archive.size for archive in self.archives)
        return (f"{'ok' if self.ok else 'FAILED'} {self.job} ({self.type}): {len(self.archives)} archive(s), "
                f"{human_size(total)}, {self.seconds:.1f} s")

    @property
    def deleted(self) -> dict[str, list[str]]:
        """Paths rotation deleted, by storage label."""
        return {storage.label: storage.deleted for storage in self.storages if storage.deleted}

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class Uncovered:
    """Coverage: what discovery found on this server that no job backs up, one line each, naming the site or the
    database and the job that would cover it (:mod:`corral.discovery.coverage`). ``problems``: what discovery
    could not read (a settings file, a server that could not be listed); the others may be incomplete."""

    sites: list[str] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        """Every gap, the sites first."""
        return [*self.sites, *self.databases]


@dataclass
class RunResult:
    """Every job of a run and the run's log.

    ``started`` is the run's clock (``CORRAL_NOW`` in drills, which names the archives); job and log times are
    the wall clock.
    """

    started: datetime
    jobs: list[JobResult] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: int = 0  # the signal that stopped the run (SIGTERM 15, SIGINT 2); 0: it was not interrupted
    blocked: str = ""  # another run held the lock: why none of the jobs ran
    uncovered: Uncovered | None = None  # coverage: what no job backs up; None when it was not looked at

    def _progress(self) -> str:
        """``done: a, b; cut short or failed: c``: the jobs of a run that was interrupted."""
        done = [job.job for job in self.jobs if job.ok]
        cut = [job.job for job in self.jobs if not job.ok]
        parts = [f"done: {', '.join(done)}" if done else "no job done"]
        return "; ".join([*parts, f"cut short or failed: {', '.join(cut)}"] if cut else parts)

    @property
    def stored(self) -> tuple[int, int]:
        """Archives stored on at least one storage, and the copies stored in all."""
        archives = [archive for job in self.jobs for archive in job.archives if archive.stored]
        return len(archives), sum(len(archive.stored) for archive in archives)

    @property
    def ok(self) -> bool:
        return not self.interrupted and not self.blocked and all(job.ok for job in self.jobs)

    def verdict(self) -> str:
        """``OK (2 job(s))``, ``FAILED: blog-db (1 of 2 job(s))``, ``INTERRUPTED: ...``, ``NOT RUN: <why>`` or
        ``NO JOB RAN: ...``."""
        failed = [job.job for job in self.jobs if not job.ok]
        if self.blocked:
            return f"NOT RUN: {self.blocked}"
        if self.interrupted:
            return f"INTERRUPTED by signal {self.interrupted}: {self._progress()}"
        if failed:
            return f"FAILED: {', '.join(failed)} ({len(failed)} of {len(self.jobs)} job(s))"
        if not self.jobs:  # an include that matched nothing: not a failure, but no backup was made either
            return "NO JOB RAN: the configuration selects none (0 job(s))"
        return f"OK ({len(self.jobs)} job(s))"


@dataclass
class RunContext:
    """Handed to every hook: the run's time, the ``main:`` settings, and a way to start tracked processes.

    Plugins start external programs with :meth:`popen` so that SIGTERM stops them with the run. ``mask(text)``
    replaces the config's secrets in a text a plugin sends somewhere other than the log (which masks them
    itself); the results that lifecycle hooks receive are masked already.
    """

    now: datetime
    main: Any
    config_path: Path
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("corral"))
    mask: Masker = field(default_factory=Masker)
    _processes: set[subprocess.Popen[Any]] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def popen(self, args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start a program that the run stops on SIGTERM/SIGINT; call :meth:`forget` after waiting for it.

        It runs in a process group of its own so that stopping it also stops whatever it started (a dump
        script's children), and it dies with corral even when corral is killed (:mod:`corral.children`).
        """
        from corral.children import die_with_corral

        kwargs.setdefault("process_group", 0)
        if "preexec_fn" not in kwargs:
            kwargs["preexec_fn"] = die_with_corral()
        process: subprocess.Popen[Any] = subprocess.Popen(args, **kwargs)
        with self._lock:
            self._processes.add(process)
        return process

    def forget(self, process: subprocess.Popen[Any]) -> None:
        with self._lock:
            self._processes.discard(process)

    def run(self, args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        """Like ``subprocess.run`` (output captured unless told otherwise), tracked like :meth:`popen`."""
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        process = self.popen(args, **kwargs)
        try:
            stdout, stderr = process.communicate()
        finally:
            self.forget(process)
        return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)

    def signal_processes(self, signum: int = signal.SIGTERM) -> None:
        """Send a signal to every running program started through the context, and to its process group."""
        with self._lock:
            processes = list(self._processes)
        for process in processes:
            if process.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(process.pid, signum)

    def stop_processes(self) -> None:
        """Terminate every running program started through the context (on SIGTERM/SIGINT)."""
        self.signal_processes(signal.SIGTERM)
        with self._lock:
            processes = list(self._processes)
        for process in processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.signal_processes(signal.SIGKILL)
                process.wait()
