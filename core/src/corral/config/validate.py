"""Validate the whole configuration before any work: every problem is one line naming file, line, job and key.

The core validates its own keys; each job's keys go to its source plugin's schema and each storage entry's keys
to its storage plugin's schema. Empty values (``''``, as the article's templates write them) mean "unset".
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy
from pydantic import BaseModel, SecretStr, ValidationError, create_model

from corral.config.loader import BrokenFile, Located, LocatedList, load_yaml
from corral.config.models import (
    ConsoleCore,
    JobConfig,
    JobCore,
    MainCore,
    SourceSchema,
    StorageConfig,
    StorageCore,
    holds_password,
    looks_secret,
)
from corral.config.risks import config_warnings, secrets_in
from corral.debugging import explain
from corral.errors import ConfigError, PluginError, PluginMissing, one_line
from corral.masking import Masker
from corral.plugins import load_driver, load_notifiers

TOP_KEYS = ("main", "jobs", "console")
# the password of a URL's `user:password@`: no configured secret masks it, and a job's problem reaches the notifiers
_URL_PASSWORD = re.compile(r"(://[^/@:\s]*):\S*@")


@dataclass
class Config:
    """A validated configuration: main settings, runnable jobs, and jobs that cannot run.

    ``unavailable`` maps a job (or, for a job file that could not be read, the file) to its one-line problems;
    ``start`` reports each as a failed job and runs the others. ``groups`` holds the group of those whose type is
    known, so that ``corral start databases`` reports a broken database job.
    """

    path: Path
    main: Any
    jobs: list[JobConfig]
    unavailable: dict[str, list[str]] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    unnamed: set[str] = field(default_factory=set)  # keys of `unavailable` that are a file or file:line, not a job
    secrets: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    notifiers: pluggy.PluginManager | None = None
    console: ConsoleConfig | None = None  # the `console:` section, when the file has one


@dataclass
class ConsoleConfig:
    """The validated ``console:`` section: its settings and the storages it reads (``corral console``)."""

    settings: ConsoleCore
    storages: list[StorageConfig]
    file: str
    line: int


def load_config(path: Path, *, partial: bool = False) -> Config:
    """Load and validate the main file and everything it includes.

    Raises ConfigError listing every problem; with ``partial`` (``corral start``) only a problem outside the jobs
    (the main file, ``main:``, where the notifiers are) raises, and a broken job or job file is returned in
    ``unavailable`` so that the other jobs still run.
    """
    raw = load_yaml(path)
    problems: list[str] = []
    if not isinstance(raw, Located):
        raise ConfigError([f"{path}:1: the main file must be a mapping with `main:` and `jobs:`"])
    raw = _clean(raw)
    for key in raw:
        if key not in TOP_KEYS:
            problems.append(f"{raw.file}:{raw.line_of(key)}: unknown top-level key `{key}`; {_suggest(key, TOP_KEYS)}")
    warnings: list[str] = []
    failed: list[str] = []
    notifiers = load_notifiers(failed.append)
    warnings.extend(failed)
    main = _validate_main(raw, notifiers, bool(failed), problems, warnings)
    config = Config(path=path, main=main, jobs=[], warnings=warnings, notifiers=notifiers)
    jobs_raw = raw.get("jobs")
    if jobs_raw is None:
        jobs_raw = LocatedList()
    if not isinstance(jobs_raw, LocatedList):
        problems.append(f"{raw.file}:{raw.line_of('jobs')}: `jobs` must be a list of jobs (`- job: NAME`)")
        jobs_raw = LocatedList()
    if not jobs_raw:  # an empty conf.d or a glob that matches nothing: say so rather than back up nothing quietly
        line = raw.line_of("jobs") if "jobs" in raw else raw.line
        warnings.append(f"{raw.file}:{line}: no job is configured (`jobs` is empty or its `!include` matched no file)")
    job_problems = _validate_jobs(jobs_raw, main, config, str(path))
    config.console = _validate_console(raw, problems)
    if problems or (job_problems and not partial):
        raise ConfigError(problems + job_problems)
    console_models = [] if config.console is None else [config.console.settings,
                                                       *[storage.options for storage in config.console.storages]]
    config.secrets = _secrets([main, *[_models_of(job) for job in config.jobs], *console_models])
    config.warnings.extend(config_warnings(config, f"{raw.file}:{raw.line_of('main')}"))
    return config


def _validate_jobs(jobs_raw: LocatedList, main: Any, config: Config, path: str) -> list[str]:
    """Validate every job; one that fails goes to ``config.unavailable`` under its name (or its file:line, or its
    file when the file could not be read). Returns the problems of the configuration (not of plugins) found."""
    seen: dict[str, str] = {}
    found: list[str] = []
    for index, job_raw in enumerate(jobs_raw):
        where = f"{jobs_raw.file}:{jobs_raw.item_lines[index]}" if index < len(jobs_raw.item_lines) else path
        if isinstance(job_raw, BrokenFile):
            key, problems = job_raw.file, list(job_raw.problems)
        elif not isinstance(job_raw, Located):
            key, problems = where, [f"{where}: each job must be a mapping starting with `- job: NAME`"]
        else:
            name = job_raw.get("job")
            taken = not isinstance(name, str) or name in seen or name in config.unavailable
            key = f"{job_raw.file}:{job_raw.line}" if taken else str(name)
            problems = []
            if isinstance(name, str) and name in seen:
                problems.append(f"{job_raw.file}:{job_raw.line_of('job')}: job `{name}`: duplicate job name "
                                f"(also defined at {seen[name]}); job names must be unique")
            else:
                if isinstance(name, str):
                    seen[name] = f"{job_raw.file}:{job_raw.line_of('job')}"
                group = _validate_job(job_raw, main, config, problems)
                if problems and group is not None:
                    config.groups[key] = group
        if problems:
            key = one_line(key)  # a file name is any bytes: it must not split the log line it names
            config.unavailable[key] = problems
            found.extend(problems)
            if key != _name_of(job_raw):
                config.unnamed.add(key)
    return found


def _name_of(job_raw: Any) -> str | None:
    name = job_raw.get("job") if isinstance(job_raw, Located) else None
    return name if isinstance(name, str) else None


# ------------------------------------------------------------------------------------------------- main


def _validate_main(
    raw: Located, notifiers: pluggy.PluginManager, notifier_failed: bool, problems: list[str], warnings: list[str]
) -> Any:
    main_raw = raw.get("main")
    if main_raw is None:
        main_raw = Located()
        main_raw.file, main_raw.line = raw.file, raw.line
    if not isinstance(main_raw, Located):
        problems.append(f"{raw.file}:{raw.line_of('main')}: `main` must be a mapping of settings")
        return MainCore()
    contributed: dict[str, Any] = {}
    for model in notifiers.hook.corral_main_schema():
        for name, info in model.model_fields.items():
            contributed[name] = (info.annotation, info)
    model = create_model("Main", __base__=MainCore, **contributed) if contributed else MainCore
    data = dict(main_raw)
    if notifier_failed:  # keys of a notifier that failed to load are not errors: that failure is reported already
        for key in [k for k in data if k not in model.model_fields]:
            warnings.append(f"{main_raw.file}:{main_raw.line_of(key)}: main: key `{key}` ignored")
            del data[key]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(_explain(exc, main_raw, "main", model, ()))
    except Exception as exc:  # a notifier's validator has a bug
        problems.append(_validator_bug(exc, main_raw, "main", model, data))
    return MainCore.model_construct()


def _validate_console(raw: Located, problems: list[str]) -> ConsoleConfig | None:
    """The ``console:`` section (docs/console.md), its storages validated as a job's are."""
    if "console" not in raw:
        return None
    console_raw = raw.get("console")
    if console_raw is None:
        console_raw = Located()
        console_raw.file, console_raw.line = raw.file, raw.line_of("console")
    if not isinstance(console_raw, Located):
        problems.append(f"{raw.file}:{raw.line_of('console')}: `console` must be a mapping of settings")
        return None
    before = len(problems)
    try:
        settings = ConsoleCore.model_validate({k: v for k, v in console_raw.items() if k != "storages"})
    except ValidationError as exc:
        problems.extend(_explain(exc, console_raw, "console", ConsoleCore, ()))
        settings = ConsoleCore()
    storages_raw = console_raw.get("storages")
    if storages_raw is not None and not isinstance(storages_raw, LocatedList):
        problems.append(f"{console_raw.file}:{console_raw.line_of('storages')}: console: `storages` must be a list "
                        "of storages (`- storage: NAME`)")
    storages = _validate_storages(console_raw, "console", problems) if storages_raw is not None else []
    if len(problems) > before:
        return None
    return ConsoleConfig(settings, storages, str(console_raw.file), console_raw.line)


# -------------------------------------------------------------------------------------------------- jobs


def _validate_job(raw: Located, main: Any, config: Config, problems: list[str]) -> str | None:
    """Validate one job into ``config.jobs`` or ``problems``; returns its group when its type is known."""
    core_keys = set(JobCore.model_fields)
    name = raw.get("job") if isinstance(raw.get("job"), str) else f"#{raw.line}"
    label = f"job `{name}`"
    before = len(problems)
    try:
        core = JobCore.model_validate({k: v for k, v in raw.items() if k in core_keys})
    except ValidationError as exc:
        problems.extend(
            error for error in _explain(exc, raw, label, JobCore, ()) if "unknown key" not in error
        )
        core = None
    job_type = raw.get("type")
    if not isinstance(job_type, str):
        return None
    try:
        schema: SourceSchema | None = load_driver("source", job_type).hook.corral_source_schema()
    except PluginMissing as exc:
        problems.append(f"{raw.file}:{raw.line_of('type')}: {label}: `type: {job_type}`: {exc}")
        schema = None
    except PluginError as exc:  # not the configuration's fault: the job cannot run, the config is fine
        config.unavailable[str(name)] = [str(exc)]
        return None
    except Exception as exc:  # a bug in the plugin: the same
        config.unavailable[str(name)] = [f"source plugin `{job_type}` failed in corral_source_schema: {explain(exc)}"]
        return None
    storages = _validate_storages(raw, label, problems)
    if schema is None:
        return None
    plugin_data = {k: v for k, v in raw.items() if k not in core_keys}
    options = _validate_part(schema.job, plugin_data, raw, label, (), problems, core_keys)
    sources = _validate_sources(schema, raw, label, problems)
    encrypt = (core.encrypt or getattr(main, "encrypt", None)) if core is not None else None
    if schema.retention == "source":
        for storage in storages:
            if storage.store.enabled:
                problems.append(f"{storage.file}:{storage.line}: {label}: type `{job_type}` rotates its own chains "
                                "(a year of incremental backups); remove `store` from this storage")
    if core is None or len(problems) > before:
        return schema.group
    tmp_dir = core.tmp_dir or Path(main.general_path_to_all_tmp_dir) / core.job
    config.jobs.append(
        JobConfig(
            name=core.job,
            type=core.type,
            tmp_dir=tmp_dir,
            options=options,
            sources=sources,
            storages=storages,
            file=raw.file,
            line=raw.line,
            group=schema.group,
            spool=core.spool,
            encrypt=encrypt,
            drill=core.drill,
        )
    )
    return schema.group


def _validate_part(
    model: type[BaseModel] | None,
    data: dict[str, Any],
    node: Located,
    label: str,
    loc: tuple[Any, ...],
    problems: list[str],
    core_keys: set[str],
) -> Any:
    """Validate the plugin's share of a mapping; keys neither the core nor the plugin knows are errors."""
    if model is None:
        for key in data:
            problems.append(
                f"{node.file}:{node.line_of(key)}: {label}: unknown key `{_dotted((*loc, key))}`; "
                f"{_suggest(key, sorted(core_keys))}"
            )
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(_explain(exc, node, label, model, loc, extra_valid=core_keys))
    except Exception as exc:  # a bug in the plugin's validator: only the job it validates cannot run
        problems.append(_validator_bug(exc, node, label, model, data))
    return None


def _validator_bug(exc: Exception, node: Located, label: str, model: type[BaseModel], data: dict[str, Any]) -> str:
    """A validator that raised what pydantic does not report (not a ValueError): one line, with the plugin's
    file and line, and the secrets given to the model masked (the config's own are not known yet)."""
    mask = Masker(str(data[key]) for key in model.model_fields if key in data and _is_secret(model, (key,)))
    return mask(f"{node.file}:{node.line}: {label}: the plugin failed validating these keys (a bug to report to "
                f"its authors): {explain(exc, mask)}")


def _validate_sources(schema: SourceSchema, raw: Located, label: str, problems: list[str]) -> list[Any]:
    sources_raw = raw.get("sources")
    if schema.source is None:
        if sources_raw:
            problems.append(
                f"{raw.file}:{raw.line_of('sources')}: {label}: type `{raw.get('type')}` takes no `sources`; "
                "remove the key"
            )
        return []
    if not sources_raw:
        problems.append(f"{raw.file}:{raw.line_of('sources')}: {label}: required key `sources` is missing or "
                        "empty; add a list with at least one source (`- target: ...`)")
        return []
    if not isinstance(sources_raw, LocatedList):
        return []  # JobCore already reported the wrong type
    sources = []
    for index, item in enumerate(sources_raw):
        if not isinstance(item, Located):
            problems.append(f"{sources_raw.file}:{sources_raw.item_lines[index]}: {label}: `sources[{index}]` "
                            "must be a mapping of source keys")
            continue
        sources.append(_validate_part(schema.source, dict(item), item, label, ("sources", index), problems, set()))
    return sources


def _validate_storages(raw: Located, label: str, problems: list[str]) -> list[StorageConfig]:
    storages_raw = raw.get("storages")
    if not isinstance(storages_raw, LocatedList):
        return []  # JobCore already reported it
    core_keys = set(StorageCore.model_fields) | {"month"}
    storages = []
    for index, item in enumerate(storages_raw):
        loc = ("storages", index)
        if not isinstance(item, Located):
            problems.append(f"{storages_raw.file}:{storages_raw.item_lines[index]}: {label}: "
                            f"`storages[{index}]` must be a mapping with `storage: NAME`")
            continue
        try:
            core = StorageCore.model_validate({k: v for k, v in item.items() if k in core_keys})
        except ValidationError as exc:
            problems.extend(_explain(exc, item, label, StorageCore, loc))
            continue
        try:
            driver = load_driver("storage", core.storage)
        except PluginMissing as exc:
            problems.append(f"{item.file}:{item.line_of('storage')}: {label}: `storage: {core.storage}`: {exc}")
            continue
        except PluginError as exc:
            problems.append(f"{item.file}:{item.line_of('storage')}: {label}: {exc}")
            continue
        try:
            model = driver.hook.corral_storage_schema()
        except Exception as exc:  # a bug in the plugin
            problems.append(f"{item.file}:{item.line_of('storage')}: {label}: storage plugin `{core.storage}` failed "
                            f"in corral_storage_schema: {explain(exc)}")
            continue
        data = {k: v for k, v in item.items() if k not in core_keys}
        options = _validate_part(model, data, item, label, loc, problems, core_keys)
        if options is not None:
            storages.append(StorageConfig(core.storage, core.enable, core.backup_dir, core.store, options,
                                          item.file, item.line, file_mode=core.file_mode, dir_mode=core.dir_mode,
                                          spool=core.spool))
    return storages


# ------------------------------------------------------------------------------------------------ errors


def _explain(
    exc: ValidationError,
    node: Located,
    label: str,
    model: type[BaseModel],
    prefix: tuple[Any, ...],
    extra_valid: set[str] | None = None,
) -> list[str]:
    """One line per pydantic error: file:line, job, dotted key, the problem and how to fix it."""
    lines = []
    for error in exc.errors(include_url=False):
        loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and part.startswith("function-")))
        file, line = _locate(node, loc)
        key = _dotted((*prefix, *loc))
        kind = error["type"]
        if kind == "missing":
            problem = f"required key `{key}` is missing or empty; add it"
        elif kind == "extra_forbidden":
            valid = _valid_keys(model, loc[:-1]) | (extra_valid or set() if len(loc) == 1 else set())
            problem = f"unknown key `{key}`; {_suggest(str(loc[-1]), sorted(valid))}"
        else:
            detail = error["msg"].removeprefix("Value error, ")
            shown = "" if _is_secret(model, loc) else _shown(error.get("input"))
            if shown and f"`{error.get('input')}`" in detail:  # the message quotes the value already
                shown = ""
            problem = _URL_PASSWORD.sub(r"\1:***@", f"`{key}`: {detail}{shown}" if loc else f"{detail}")
        lines.append(f"{file}:{line}: {label}: {problem}")
    return lines


def _shown(value: Any) -> str:
    if (isinstance(value, list | tuple) and any(looks_secret(item) for item in value)) or looks_secret(value):
        return ""
    if isinstance(value, str) and holds_password(value):  # `drill: server: USER:PASSWORD@HOST`, refused for it
        return ""
    if isinstance(value, str | int | float | bool) and not isinstance(value, SecretStr):
        text = repr(value)
        return f" (got {text[:60]})"
    return ""


def _locate(node: Any, loc: tuple[Any, ...]) -> tuple[str, int]:
    file, line = getattr(node, "file", "?"), getattr(node, "line", 0)
    for part in loc:
        if isinstance(node, Located) and part in node:
            file, line, node = node.file, node.line_of(part), node[part]
        elif isinstance(node, LocatedList) and isinstance(part, int) and part < len(node.item_lines):
            file, line, node = node.file, node.item_lines[part], node[part]
        else:
            break
    return file, line


def _submodel(model: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return None
        annotation = fields[part].annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return None
    return model


def _valid_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> set[str]:
    sub = _submodel(model, loc)
    return set(getattr(sub, "model_fields", {})) | ({"month"} if sub is not None and sub.__name__ == "Store" else set())


def _is_secret(model: type[BaseModel], loc: tuple[Any, ...]) -> bool:
    """Whether the value at ``loc`` is (an item of) a secret field: its input is never echoed."""
    current: Any = model
    info = None
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if fields is None:
            break  # inside a list or dict field: ``info`` is the field that holds the value
        if part not in fields:
            continue
        info = fields[part]
        current = _submodel(current, (part,))
    return info is not None and "Secret" in str(info.annotation)


def _suggest(key: str, valid: Any) -> str:
    valid = sorted(str(v) for v in valid)
    close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`?"
    return f"remove it (valid keys: {', '.join(valid)})" if valid else "remove it"


def _dotted(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for an invalid mapping key: the key itself was just named
            text += " (as a key)"
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _clean(value: Any) -> Any:
    """Drop empty values (``''``, null) so that they read as unset, keeping file and line information."""
    if isinstance(value, Located):
        cleaned = Located()
        cleaned.file, cleaned.line = value.file, value.line
        for key, item in value.items():
            item = _clean(item)
            if item is not None and item != "":
                cleaned[key] = item
            cleaned.key_lines[key] = value.line_of(key)
        return cleaned
    if isinstance(value, LocatedList):
        cleaned_list = LocatedList()
        cleaned_list.file, cleaned_list.line = value.file, value.line
        for item, line in zip(value, value.item_lines, strict=False):
            item = _clean(item)
            if item is not None and item != "":
                cleaned_list.append(item)
                cleaned_list.item_lines.append(line)
        return cleaned_list
    return value


def _models_of(job: JobConfig) -> list[Any]:
    return [job.options, *job.sources, *[storage.options for storage in job.storages]]


def _secrets(models: list[Any]) -> set[str]:
    """Every secret value in the config, so that logs and reports can mask it wherever it shows up."""
    return {value for model in models for _, value in secrets_in(model)}
