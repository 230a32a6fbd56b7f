"""Job templates built from the installed plugins' schemas, in the article's layout.

A field's value in the template is its ``example`` (``Field(json_schema_extra={"example": ...})``), else its
default, else empty; its ``description`` becomes the comment, and a ``template_hint`` extra a comment line
below it (an example the admin may uncomment: a default that drops data must never be the template's value).
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from corral.config.models import CompressedSource, SourceOptions, SourceSchema, StorageCore, Store
from corral.plugins import load_driver


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == "":
        return "''"
    text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _example(info: FieldInfo) -> Any:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if "example" in extra:
        return extra["example"]
    if info.default is not PydanticUndefined and info.default is not None:
        return info.default.model_dump() if isinstance(info.default, BaseModel) else info.default
    if info.default_factory is not None:
        try:
            value = info.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return None
        return value.model_dump() if isinstance(value, BaseModel) else value
    return None


def _submodel(info: FieldInfo) -> type[BaseModel] | None:
    candidates = [info.annotation, *getattr(info.annotation, "__args__", ())]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def _place(model: type[BaseModel], key: str) -> int:
    """Where ``key`` goes in a template: a source's ``template_order`` first, its own keys next, then the keys
    every source shares (``gzip``, ``compression``, ``name``)."""
    if not issubclass(model, SourceOptions):
        return 0
    order = model.template_order
    if key in order:
        return order.index(key) - len(order)
    shared = ("gzip", "compression", "name")
    return shared.index(key) + 1 if key in shared and key in CompressedSource.model_fields else 0


def _fields(model: type[BaseModel] | None, indent: str, first_prefix: str = "") -> list[str]:
    """Template lines for a model's fields; ``first_prefix`` ('- ') starts a list item."""
    lines: list[str] = []
    if model is None:
        return lines
    fields = sorted(model.model_fields.items(), key=lambda item: _place(model, item[0]))
    for index, (name, info) in enumerate(fields):
        lead = indent + (first_prefix if index == 0 else " " * len(first_prefix))
        comment = f"  # {info.description}" if info.description else ""
        sub = _submodel(info)
        example = _example(info)
        if sub is not None and not isinstance(example, list):
            lines.append(f"{lead}{name}:{comment}")
            lines.extend(_fields(sub, lead.replace("-", " ") + "  "))
        elif isinstance(example, list) and example:
            lines.append(f"{lead}{name}:{comment}")
            lines.extend(f"{lead.replace('-', ' ')}- {_scalar(item)}" for item in example)
        elif isinstance(example, dict):
            lines.append(f"{lead}{name}:{comment}")
            lines.extend(f"{lead.replace('-', ' ')}  {k}: {_scalar(v)}" for k, v in example.items())
        else:
            lines.append(f"{lead}{name}: {_scalar(example)}{comment}")
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if extra.get("template_hint"):
            lines.append(f"{lead.replace('-', ' ')}# {extra['template_hint']}")
    return lines


def job_template(job_type: str, storages: list[str]) -> str:
    """The text of a job file for ``job_type`` storing on ``storages``."""
    source = load_driver("source", job_type)
    schema: SourceSchema = source.hook.corral_source_schema()
    group = {"files": "files", "databases": "databases", "external": "external"}[schema.group]
    base = f"/var/corral/{group}/{job_type}"
    lines = [
        f"# corral job: {job_type} stored on {', '.join(storages) or 'nothing yet'}.",
        "# Fill in the values, then include this file from the main config (jobs: !include [conf.d/*.conf]).",
        f"- job: PROJECT-{job_type}",
        f"  type: {job_type}",
        f"  tmp_dir: {base}/dump_tmp",
    ]
    lines += _fields(schema.job, "  ")
    if schema.source is not None:
        lines.append("  sources:")
        lines += _fields(schema.source, "  ", "- ")
    lines.append("  storages:")
    for name in storages:
        model = load_driver("storage", name).hook.corral_storage_schema()
        lines += [
            f"  - storage: {name}",
            "    enable: yes",
            f"    backup_dir: {base}/dump  # {StorageCore.model_fields['backup_dir'].description}",
        ]
        lines += _fields(model, "    ")
        if schema.retention == "source":
            continue  # the plugin rotates its own chains
        lines.append("    store:  # retention; all empty: keep everything")
        defaults = {"days": 6, "weeks": 4, "months": 6}
        for key, info in Store.model_fields.items():
            lines.append(f"      {key}: {defaults[key]}  # {info.description}")
    return "\n".join(lines) + "\n"
