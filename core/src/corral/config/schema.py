"""The JSON Schema (draft 2020-12) of the whole configuration for the installed plugins, for editors.

Composed from the pydantic models ``corral check`` validates with: the main file (``main:``, ``jobs:``), a job file
(a list of jobs, or one job), each job by its ``type`` (its own keys and its ``sources`` items) and each storage by
its ``storage``, chosen with ``if``/``then`` on that key. What the models cannot say is added where the loader
or a ``mode="before"`` validator accepts more (:mod:`corral.config.schema_rules`). ``corral check`` still judges
the values themselves.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from corral.config.models import ConsoleCore, Encrypt, JobCore, MainCore, SourceSchema, StorageCore, Store
from corral.config.schema_rules import STRING, UNSET, add_before_inputs, describe_core, loosen, polish, ref, unused
from corral.config.validate import TOP_KEYS
from corral.debugging import explain
from corral.errors import PluginError
from corral.plugins import distribution_of, installed_names, load_driver, load_notifiers

DIALECT = "https://json-schema.org/draft/2020-12/schema"
Report = Callable[[str], None]


def config_schema(report: Report) -> dict[str, Any]:
    """The schema for the installed plugins; a plugin that cannot load or describe itself is reported and left
    out (the schema then refuses its type or storage, as ``corral check`` would)."""
    sources: dict[str, SourceSchema] = _plugins("source", report)
    storages: dict[str, type[BaseModel]] = _plugins("storage", report)
    notifiers = [model for model in load_notifiers(report).hook.corral_main_schema() if _describable(model, report)]
    models = [MainCore, ConsoleCore, JobCore, StorageCore, Store, Encrypt, *notifiers, *storages.values()]
    models += [model for schema in sources.values() for model in (schema.job, schema.source) if model is not None]
    refs, top = models_json_schema([(model, "validation") for model in dict.fromkeys(models)],
                                   ref_template=ref("{model}"))
    defs: dict[str, Any] = top.get("$defs", {})
    name = {model: refs[(model, "validation")]["$ref"].rsplit("/", 1)[1] for model in models}
    add_before_inputs(defs, name)
    describe_core(defs, name)
    for schema in defs.values():
        loosen(schema)
    mine = _composed(defs, name, sources, storages, notifiers)
    clash = set(mine) & set(defs)
    if clash:
        raise PluginError(f"a plugin's model is named like a part of corral's schema: {', '.join(sorted(clash))}")
    defs.update(mine)
    document = {
        "$schema": DIALECT, "title": "corral configuration",
        "description": "A corral main file (`main:`, `jobs:`) or a job file (a list of jobs, or one job).",
        "if": {"type": "array"}, "then": {"$ref": ref("jobs")},
        "else": {"if": {"type": "object", "required": ["job"]}, "then": {"$ref": ref("job")},
                 "else": {"$ref": ref("main_file")}},
        "$defs": defs,
    }
    for unreferenced in unused(document):
        del defs[unreferenced]
    polish(document)
    return document


def _composed(defs: dict[str, Any], name: dict[Any, str], sources: dict[str, SourceSchema],
              storages: dict[str, type[BaseModel]], notifiers: list[type[BaseModel]]) -> dict[str, Any]:
    """corral's own definitions: ``main`` with the notifiers' keys, ``job.TYPE`` (the core's job keys, the type's,
    its sources) and ``storage.KIND``, the dispatchers ``job`` and ``storage``, the main file and a job file."""
    job, storage = defs.pop(name[JobCore]), defs.pop(name[StorageCore])  # only ever merged into those below
    mine = {
        "main": _merged("the `main:` section", [defs[name[MainCore]], *(defs[name[model]] for model in notifiers)]),
        "main_file": _main_file(),
        "console": _merged("the `console:` section (corral console, docs/console.md)",
                           [defs.pop(name[ConsoleCore])],
                           storages={"description": "where the fleet's run records are, as a job's storages",
                                     "type": "array", "items": {"$ref": ref("storage")}}),
        "jobs": {"type": "array", "items": {"$ref": ref("job")}},
        "job": _dispatch("type", "job", sorted(sources), "the source plugin that makes this job's backups"),
        "storage": _dispatch("storage", "storage", sorted(storages), "the storage plugin that keeps the backups"),
    }
    for kind, model in storages.items():
        mine[f"storage.{kind}"] = _merged(_plugin("storage", kind), [storage, defs[name[model]]],
                                          storage={"const": kind, "description": "the storage plugin"})
    for job_type, schema in sources.items():
        own = [defs[name[schema.job]]] if schema.job is not None else []
        mine[f"job.{job_type}"] = _merged(_plugin("source", job_type), [job, *own], **_job_keys(job_type, schema, name))
    return mine


def dumps(schema: dict[str, Any]) -> str:
    """The schema as the file holds it: sorted keys, so that the same plugins always give the same bytes."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _plugins(kind: str, report: Report) -> dict[str, Any]:
    """Each installed plugin's schema hook's answer, by name."""
    found = {}
    for name in installed_names(kind):
        try:
            hook = load_driver(kind, name).hook
            answer = hook.corral_source_schema() if kind == "source" else hook.corral_storage_schema()
        except PluginError as exc:
            report(str(exc))
            continue
        except Exception as exc:  # a bug in the plugin
            report(f"{kind} plugin `{name}` failed in corral_{kind}_schema: {explain(exc)}")
            continue
        models = (answer.job, answer.source) if isinstance(answer, SourceSchema) else (answer,)
        if all(model is None or _describable(model, report) for model in models):
            found[name] = answer
    return found


def _describable(model: Any, report: Report) -> bool:
    """Whether pydantic can write a model's schema (a field of a type JSON Schema has no word for cannot)."""
    try:
        model.model_json_schema()
    except Exception as exc:
        report(f"`{getattr(model, '__name__', model)}` has no JSON Schema: {explain(exc)}")
        return False
    return True


def _plugin(kind: str, name: str) -> str:
    distribution, version = distribution_of(kind, name)
    what = "a job of type" if kind == "source" else "a storage"
    return f"{what} `{name}` ({distribution} {version})"


def _merged(description: str, parts: list[dict[str, Any]], **keys: Any) -> dict[str, Any]:
    """One closed mapping with the keys of every part, then ``keys`` (unknown keys are errors, as in corral); a
    key of ``keys`` with ``minItems`` is required."""
    properties = {key: value for part in parts for key, value in part.get("properties", {}).items()} | keys
    required = {key for part in parts for key in part.get("required", ())}
    required |= {key for key, value in keys.items() if "minItems" in value}
    return {"type": "object", "description": description, "additionalProperties": False,
            "properties": properties, "required": sorted(required)}


def _job_keys(job_type: str, schema: SourceSchema, name: dict[Any, str]) -> dict[str, Any]:
    """The keys a job's type decides: ``type`` itself, ``sources`` and ``storages``."""
    sources: dict[str, Any]
    if schema.source is None:
        sources = {"description": f"type `{job_type}` takes no sources",
                   "anyOf": [{"type": "array", "maxItems": 0}, *UNSET]}
    else:
        sources = {"description": f"what a `{job_type}` job backs up, one item per source", "type": "array",
                   "minItems": 1, "items": {"$ref": ref(name[schema.source])}}
    storages = {"description": "where the backups go, one item per storage", "type": "array", "minItems": 1,
                "items": {"$ref": ref("storage")}}
    return {"type": {"const": job_type, "description": "the source plugin"}, "sources": sources,
            "storages": storages}


def _dispatch(key: str, prefix: str, names: list[str], description: str) -> dict[str, Any]:
    """A mapping whose ``key`` chooses the schema of the rest: ``if key is NAME then PREFIX.NAME``."""
    return {
        "type": "object", "required": [key],
        "properties": {key: {"enum": names, "description": description}},
        "allOf": [{"if": {"properties": {key: {"const": name}}, "required": [key]},
                   "then": {"$ref": ref(f"{prefix}.{name}")}} for name in names],
    }


_TOP_KEYS = {
    "main": {"description": "the settings of the whole server", "anyOf": [{"$ref": ref("main")}, *UNSET]},
    "console": {"description": "the fleet console's settings (corral console)",
                "anyOf": [{"$ref": ref("console")}, *UNSET]},
    "jobs": {"description": "the jobs, or `!include [conf.d/*.conf]`: the jobs of every matching file",
             "anyOf": [{"$ref": ref("jobs")}, STRING, {"type": "array", "items": STRING}, {"type": "null"}]},
}


def _main_file() -> dict[str, Any]:
    """The main file: every top-level key corral accepts (a new one without a schema here is a KeyError)."""
    return {"type": "object", "description": "the main file", "additionalProperties": False,
            "properties": {key: _TOP_KEYS[key] for key in TOP_KEYS}}
