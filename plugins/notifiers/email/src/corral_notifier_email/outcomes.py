"""Per-storage outcomes of a job, from the lifecycle hooks plus the job's result.

The core keys its outcomes by storage *type* (``local``), so two storages of one type in a job (two local
folders, say) share a key. The hooks carry each stored file's full path and each deleted file, which start with
the storage's ``backup_dir``: this module uses them to tell such storages apart.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from corral import hookimpl
from corral.config.models import JobConfig
from corral.run import JobResult


@dataclass
class StorageOutcome:
    """One configured storage of one job after a run."""

    name: str
    backup_dir: str
    enabled: bool = True
    targets: list[str] = field(default_factory=list)
    size: int = 0
    seconds: float = 0.0
    deleted: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every archive of the job arrived here and nothing about this storage failed."""
        return self.enabled and not self.failures


class RunRecorder:
    """Lifecycle hooks that remember each job's storages, stored files and rotations during a run."""

    def __init__(self) -> None:
        self.configs: dict[str, JobConfig] = {}
        self.stored: dict[str, list[tuple[str, str, int, float]]] = {}
        self.deleted: dict[str, list[tuple[str, str]]] = {}

    @hookimpl
    def corral_run_started(self) -> None:
        self.configs.clear()
        self.stored.clear()
        self.deleted.clear()

    @hookimpl
    def corral_job_started(self, job: JobConfig) -> None:
        self.configs[job.name] = job
        self.stored[job.name] = []
        self.deleted[job.name] = []

    @hookimpl
    def corral_archive_stored(self, job: JobConfig, storage: str, remote_path: str, size: int, seconds: float) -> None:
        self.stored.setdefault(job.name, []).append((storage, remote_path, size, seconds))

    @hookimpl
    def corral_rotation_done(self, job: JobConfig, storage: str, deleted: list[str]) -> None:
        self.deleted.setdefault(job.name, []).extend((storage, path) for path in deleted)

    def storages(self, result: JobResult) -> list[StorageOutcome]:
        """The outcome of every configured storage of the job (none for a job that could not start)."""
        config = self.configs.get(result.job)
        if config is None:
            return []
        outcomes = [StorageOutcome(s.name, s.backup_dir, s.enable) for s in config.storages]
        roots = [posixpath.join(o.backup_dir, result.job).rstrip("/") + "/" for o in outcomes]

        def owners(name: str, path: str) -> list[int]:
            same = [i for i, o in enumerate(outcomes) if o.name == name and o.enabled]
            inside = [i for i in same if path.startswith(roots[i])]
            return [max(inside, key=lambda i: len(roots[i]))] if inside else same

        for name, remote, size, seconds in self.stored.get(result.job, []):
            for i in owners(name, remote):
                outcomes[i].targets.append(remote[len(roots[i]):].split("/", 1)[0])
                outcomes[i].size += size
                outcomes[i].seconds += seconds
        for name, path in self.deleted.get(result.job, []):
            for i in owners(name, path):
                outcomes[i].deleted += 1
        for error in result.errors:
            for i in self._failed(error, outcomes, roots):
                outcomes[i].failures.append(error.split(": ", 1)[1])
        return outcomes

    @staticmethod
    def _failed(error: str, outcomes: list[StorageOutcome], roots: list[str]) -> list[int]:
        """Which storages an error line (``storage NAME: ...``) is about."""
        same = [i for i, o in enumerate(outcomes) if o.enabled and error.startswith(f"storage {o.name}: ")]
        if len(same) <= 1:
            return same
        detail = error.split(": ", 1)[1]
        named = [i for i in same if roots[i] in detail or roots[i].rstrip("/") + "`" in detail]
        if named:
            return [max(named, key=lambda i: len(roots[i]))]
        if detail.startswith("target "):  # an upload failure: the storages that lack that target
            target = detail.removeprefix("target ").split(": ", 1)[0]
            lacking = [i for i in same if target not in outcomes[i].targets]
            if lacking:
                return lacking
        return same
