"""Shell completion values: job names and targets, read from the configuration the command line names.

Completion runs on every Tab, so it reads the YAML alone (``!include`` resolved, nothing validated, no plugin
loaded, no storage listed) and never fails loudly: a configuration it cannot read completes nothing. It offers
job names, storage kinds, and what sources' ``target:`` lists hold (database names, paths, and the folders a
glob matches on this server); nothing else of a source or a storage (``connect:``, hosts, passwords) is ever
read out, so no secret reaches the terminal.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ARGS_KEY = "corral.args"  # ctx.meta: the words a command was given (corral.cli.command)
SELECTORS = ("all", "files", "databases", "external")
_MAX_MATCHES = 200  # folders one glob may offer: a Tab must stay instant


def _jobs(ctx: Any) -> list[dict[str, Any]]:
    """The job mappings of the configuration ``-c``/``--config`` (or ``CORRAL_CONFIG``, or the default) names."""
    from corral.cli.options import DEFAULT_CONFIG
    from corral.config.loader import load_yaml

    try:
        data = load_yaml(Path(ctx.params.get("config") or DEFAULT_CONFIG))
        jobs = data.get("jobs") if isinstance(data, dict) else None
        return [job for job in jobs or () if isinstance(job, dict) and isinstance(job.get("job"), str)]
    except Exception:  # unreadable, broken, an unset !env: nothing to offer, and nothing to say during a Tab
        return []


def job_names(ctx: Any, param: Any, incomplete: str) -> list[str]:
    """The configuration's job names; a command that may select several jobs also takes the selectors."""
    names = [job["job"] for job in _jobs(ctx)]
    if not param.required:
        names += [selector for selector in SELECTORS if selector not in names]
    return [name for name in names if name.startswith(incomplete)]


def target_names(ctx: Any, param: Any, incomplete: str) -> list[str]:
    """The targets of the chosen job (of every job for ``all`` or a type), as ``--target`` takes them."""
    found = dict.fromkeys(name for job in _chosen_jobs(ctx) for name in _targets(job))
    return [name for name in found if name.startswith(incomplete)]


def storage_names(ctx: Any, param: Any, incomplete: str) -> list[str]:
    """The kinds of the chosen job's enabled storages (``local``, ``sftp``), as ``--storage`` takes them."""
    found: dict[str, None] = {}
    for job in _chosen_jobs(ctx):
        for storage in job.get("storages") or ():
            kind = storage.get("storage") if isinstance(storage, dict) else None
            if isinstance(kind, str) and storage.get("enable", True) not in (False, "no"):
                found[kind] = None
    return [kind for kind in found if kind.startswith(incomplete)]


def _chosen_jobs(ctx: Any) -> list[dict[str, Any]]:
    """The job the command line names; every job for ``all``, a type selector or none yet."""
    chosen = chosen_job(ctx)
    jobs = _jobs(ctx)
    return jobs if chosen in (None, *SELECTORS) else [job for job in jobs if job["job"] == chosen]


def chosen_job(ctx: Any) -> str | None:
    """The job argument given before the option being completed. click parses options first and stops at one
    missing its value (``restore shop --target <Tab>``) before it reads the arguments: parse the words again
    without that option."""
    words = list(ctx.meta.get(ARGS_KEY) or ())
    if not words or not words[-1].startswith("-"):
        return ctx.params.get("job")
    try:
        with ctx.command.make_context(ctx.info_name, words[:-1], parent=ctx.parent, resilient_parsing=True) as again:
            return again.params.get("job")
    except Exception:
        return None


def _targets(job: dict[str, Any]) -> Iterator[str]:
    for source in job.get("sources") or ():
        targets = source.get("target") if isinstance(source, dict) else None
        for target in [targets] if isinstance(targets, str) else targets or ():
            if not isinstance(target, str) or target == "all":  # `all`: every database, known only to the server
                continue
            if not glob.has_magic(target):
                yield target
                continue
            for n, match in enumerate(glob.iglob(target)):
                if n >= _MAX_MATCHES:
                    break
                yield match.rstrip(os.sep) or match


COMPLETERS: dict[tuple[str, str], Callable[[Any, Any, str], list[str]]] = {
    ("argument", "job"): job_names,
    ("option", "target"): target_names,
    ("option", "storage"): storage_names,
}
