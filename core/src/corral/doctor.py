"""``corral doctor``: what the configured jobs need before their first night, checked on this server.

The core only gathers: each source plugin checks its own programs, versions and server
(``corral_source_doctor``), each enabled storage is probed through its own hooks (:mod:`corral.probe`) and may add
its own checks (``corral_storage_doctor``), ``encrypt`` is tried with age, and the config files and the work area
are looked at (:mod:`corral.premises`). Every line is masked; a storage or source that fails never stops the
checks of the others. Nothing is changed but a probe file stored and deleted on each storage.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from corral.config import Config
from corral.config.models import JobConfig
from corral.doctoring import FAIL, WARN, Check, program
from corral.masking import Masker
from corral.premises import config_files, work_area
from corral.probe import Probed, one_line, probe
from corral.run import RunContext

AGE_TIMEOUT = 30.0


@dataclass
class Needs:
    """The biggest archive that passes through each work folder as a temp file, and its job."""

    by_folder: dict[Path, tuple[int, str]] = field(default_factory=dict)

    def add(self, job: JobConfig, probed: list[Probed]) -> None:
        spooled = job.spool or any(p.spooled for p in probed)
        biggest = max((item.size for p in probed for item in p.listed), default=0)
        if spooled and (job.tmp_dir not in self.by_folder or biggest > self.by_folder[job.tmp_dir][0]):
            self.by_folder[job.tmp_dir] = (biggest, job.name)


def examine(config: Config, names: set[str], read: dict[str, str], run: RunContext,
            say: Callable[[Check], None] | None = None) -> list[Check]:  # fmt: skip
    """Every check for the jobs named, in order (config files, each job, the work area); ``say`` hears each as it
    is made, masked. ``read``: the files the configuration was read from (see ``load_yaml``)."""
    from corral.config.risks import secret_values

    mask = Masker(config.secrets)
    checks: list[Check] = []

    def add(found: Iterator[Check] | list[Check]) -> None:
        for check in found:
            masked = replace(check, text=mask(check.text), subject=mask(check.subject))
            checks.append(masked)
            if say is not None:
                say(masked)

    add(config_files(read, ((f"{where.rpartition(': ')[2]} `{key}`", value)
                            for where, key, value in secret_values(config))))
    needs = Needs()
    chosen = [job for job in config.jobs if job.name in names]
    for job in chosen:
        add(_job(job, run, needs))
    for name in sorted(names & set(config.unavailable)):
        add(Check(FAIL, f"cannot run: {problem}", f"job {name}") for problem in config.unavailable[name])
    add(work_area(config.main, [job.tmp_dir for job in chosen], needs.by_folder))
    return checks


def _job(job: JobConfig, run: RunContext, needs: Needs) -> Iterator[Check]:
    yield from _sources(job, run)
    if job.encrypt is not None:
        yield _encrypt(job)
    probed: list[Probed] = []
    yield from _storages(job, run, probed)
    needs.add(job, probed)


def _sources(job: JobConfig, run: RunContext) -> Iterator[Check]:
    """Each source item's checks from its plugin, with the job (and the source, when there are several) in front."""
    from corral.plugins import load_driver

    subject = f"{job.type} job {job.name}"
    try:
        driver = load_driver("source", job.type)
    except Exception as exc:
        yield Check(FAIL, one_line(exc), subject)
        return
    for index, source in enumerate(job.sources or [None]):
        where = f"{subject}, source {index + 1}" if len(job.sources) > 1 else subject
        folder = Path(tempfile.mkdtemp(prefix="corral-doctor-"))
        try:
            found = driver.hook.corral_source_doctor(job=job, source=source, tmp_dir=folder, run=run)
        except Exception as exc:  # a plugin's bug is one line, and the other checks go on
            found = [Check(FAIL, f"the `{job.type}` plugin's doctor failed: {one_line(exc)}")]
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if found is None:
            found = [Check(WARN, f"the `{job.type}` plugin ({driver.distribution} {driver.version}) has no doctor "
                           "checks; its needs are not checked")]
        for check in found:
            yield replace(check, subject=f"{where}{f', {check.subject}' if check.subject else ''}")


def _encrypt(job: JobConfig) -> Check:
    """``encrypt``: age is installed and takes every recipient (a few bytes encrypted and thrown away)."""
    from corral.encryption import age_command

    assert job.encrypt is not None
    subject = f"job {job.name}"
    age = program("age", "age", why="for `encrypt`")
    if age.path is None:
        return replace(age.check, subject=subject)
    try:
        done = subprocess.run(age_command(job.encrypt), input=b"corral doctor", capture_output=True,
                              timeout=AGE_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        return Check(FAIL, f"encrypt: age could not be run: {one_line(exc)}", subject)
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        return Check(FAIL, f"encrypt: age refuses the recipients: {said[-1] if said else done.returncode}", subject)
    return Check(age.check.status, f"encrypt: {age.check.text.replace(' for `encrypt`', '')} encrypts for "
                 f"{len(job.encrypt.recipients)} recipient(s)", subject)


def _storages(job: JobConfig, run: RunContext, probed: list[Probed]) -> Iterator[Check]:
    """Each enabled storage probed, then its plugin's own checks; each closed after."""
    from corral.runner import storage_labels

    enabled = [(config, label) for config, label in zip(job.storages, storage_labels(job), strict=True)
               if config.enable]
    if not enabled:
        yield Check(FAIL, "no enabled storage: nothing would be stored", f"job {job.name}")
    for config, label in enabled:
        subject = f"storage {label} of job {job.name}"
        found = probe(config, job, label, job.spool)
        probed.append(found)
        try:
            yield replace(found.check, subject=subject)
            if not found.check.failed:
                yield from (replace(check, subject=subject) for check in _storage_doctor(found, run))
        finally:
            if found.storage is not None:
                found.storage.close()


def _storage_doctor(found: Probed, run: RunContext) -> list[Check]:
    try:
        return list(found.storage.driver.hook.corral_storage_doctor(storage=found.storage, run=run) or [])
    except Exception as exc:
        return [Check(FAIL, f"the `{found.storage.name}` plugin's doctor failed: {one_line(exc)}")]
