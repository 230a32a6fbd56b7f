"""What the configuration accepts beyond its pydantic models' own JSON Schemas, and the walks that add it.

- An empty value (``''``, null) means "unset": the loader drops it before validation, so an optional key also
  accepts one.
- A value may be a tag, ``!env NAME`` or ``!file PATH``. An editor (yaml-language-server) sees the tag's scalar,
  a string; corral sees the string it reads, which pydantic converts (``db_port: !env PORT`` is a port). So a
  scalar value that is not already any string (a number, yes/no, one of a few words, a name with a pattern) also
  accepts a string. Mappings and lists do not: a tag gives neither.
- The core's ``mode="before"`` validators, which pydantic's schema cannot see, accept a string for a list
  (``admin_mail: ONE@ADDRESS``), a number for an IO limit, and the article's ``month`` for ``months``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from corral.config.models import Encrypt, JobCore, MainCore, StorageCore, Store

STRING = {"type": "string"}
UNSET = ({"type": "null"}, {"const": ""})
_SCALARS = ("string", "integer", "number", "boolean", "null")
_ANNOTATIONS = ("title", "description", "default", "examples", "example", "deprecated", "readOnly", "writeOnly")
_NARROWING = ("pattern", "enum", "const", "minLength", "maxLength")
_FREE_FORMATS = (None, "path", "password")  # formats no validator checks a string against
_BEFORE_INPUTS = {
    (MainCore, "admin_mail"): STRING, (MainCore, "client_mail"): STRING, (Encrypt, "recipients"): STRING,
    (MainCore, "block_io_read"): {"type": "integer"}, (MainCore, "block_io_write"): {"type": "integer"},
}
# the core's keys that have no description of their own (docs/configuration.md's words)
_CORE_DESCRIPTIONS = {
    JobCore: {
        "job": "the job's name, unique; not `all`, `files`, `databases` or `external`",
        "tmp_dir": "the job's work folder, an absolute path (default: <general_path_to_all_tmp_dir>/<job>)",
        "spool": "`yes`: every archive is written to tmp_dir first and uploaded from the file",
        "encrypt": "the job's own age recipients, replacing main's `encrypt`",
        "drill": "how `corral drill` proves the job's backups restore",
    },
    StorageCore: {
        "enable": "`no` skips this storage",
        "store": "retention: the `days`, `weeks` and `months` of copies to keep (none: every copy is kept)",
    },
}
_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")
_MANY = ("anyOf", "allOf", "oneOf", "prefixItems")
_BY_NAME = ("properties", "patternProperties", "dependentSchemas")


def ref(name: str) -> str:
    """The ``$ref`` of a definition (a JSON pointer: ``~`` and ``/`` escaped)."""
    return "#/$defs/" + name.replace("~", "~0").replace("/", "~1")


def add_before_inputs(defs: dict[str, Any], name: dict[Any, str]) -> None:
    """What the core's before-validators accept, on the definitions of the models that have them."""
    for (base, field), extra in _BEFORE_INPUTS.items():
        for model, def_name in name.items():
            properties = defs.get(def_name, {}).get("properties", {})
            if issubclass(model, base) and field in properties:
                properties[field] = widen(properties[field], extra)
    store = defs[name[Store]]
    store["properties"]["month"] = {**store["properties"]["months"], "description": "the article's `months`"}
    store["not"] = {"required": ["month", "months"]}  # one spelling at a time


def describe_core(defs: dict[str, Any], name: dict[Any, str]) -> None:
    """Descriptions for the core's keys that have none, and the modes' defaults in octal (``0600``, not 384)."""
    for model, texts in _CORE_DESCRIPTIONS.items():
        properties = defs[name[model]]["properties"]
        for key, text in texts.items():
            properties[key].setdefault("description", text)
    for key in ("file_mode", "dir_mode"):
        mode = defs[name[StorageCore]]["properties"][key]
        mode["default"] = f"{mode['default']:04o}"


def loosen(schema: dict[str, Any]) -> None:
    """An empty value on every optional key, a tag's string on every scalar, in ``schema`` and below."""
    for child in _children(schema):  # first: the branches added here are not walked again
        loosen(child)
    required = set(schema.get("required", ()))
    properties = schema.get("properties", {})
    for key, value in properties.items():
        value = tagged(value)
        properties[key] = value if key in required else widen(value, *UNSET)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            schema[key] = tagged(schema[key])


def tagged(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema``, accepting any string too if it is a scalar that does not already."""
    branches = _branches(schema)
    if branches and all(_scalar(branch) for branch in branches):
        return widen(schema, STRING)
    return schema


def widen(schema: dict[str, Any], *more: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or any of ``more`` (those it accepts already left out), its annotations kept outside."""
    branches = _branches(schema)
    if not branches:  # accepts anything
        return schema
    takes_strings = any(_any_string(branch) for branch in branches)
    added = [extra for extra in more if extra not in branches and not (takes_strings and _a_string(extra))]
    if not added:
        return schema
    notes = {key: value for key, value in schema.items() if key in _ANNOTATIONS}
    return {**notes, "anyOf": [*branches, *added]}


def polish(document: dict[str, Any]) -> None:
    """Standard annotations for editors: ``examples`` (pydantic writes ``example``), the template's hint in the
    description, no titles on keys (pydantic's ``Is Slave`` for ``is_slave`` says nothing more)."""
    for schema in [*_walk(document), *(s for d in document.get("$defs", {}).values() for s in _walk(d))]:
        if "example" in schema:
            schema["examples"] = [schema.pop("example")]
        hint = schema.pop("template_hint", None)
        if hint:
            schema["description"] = f"{schema['description']}; {hint}" if schema.get("description") else hint
        for value in schema.get("properties", {}).values():
            value.pop("title", None)


def unused(document: dict[str, Any]) -> list[str]:
    """The definitions nothing reachable from the document's root refers to."""
    defs = document.get("$defs", {})
    seen: set[str] = set()
    todo = [document]
    while todo:
        for schema in _walk(todo.pop()):
            target = schema.get("$ref", "")
            name = target.removeprefix("#/$defs/").replace("~1", "/").replace("~0", "~")
            if target.startswith("#/$defs/") and name not in seen and name in defs:
                seen.add(name)
                todo.append(defs[name])
    return sorted(set(defs) - seen)


def _children(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The subschemas directly below ``schema`` (not ``$defs``: each definition is walked on its own)."""
    for key in _ONE:
        if isinstance(schema.get(key), dict):
            yield schema[key]
    for key in _MANY:
        yield from (child for child in schema.get(key, ()) if isinstance(child, dict))
    for key in _BY_NAME:
        yield from (child for child in schema.get(key, {}).values() if isinstance(child, dict))


def _walk(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield schema
    for child in _children(schema):
        yield from _walk(child)


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives ``schema`` accepts, without its annotations; none if it accepts anything."""
    rest = {key: value for key, value in schema.items() if key not in _ANNOTATIONS}
    if list(rest) == ["anyOf"]:
        return list(rest["anyOf"])
    return [rest] if rest else []


def _scalar(branch: dict[str, Any]) -> bool:
    if "$ref" in branch or "anyOf" in branch or "oneOf" in branch or "allOf" in branch:
        return False
    return branch.get("type") in _SCALARS or "enum" in branch or "const" in branch


def _any_string(branch: dict[str, Any]) -> bool:
    return _is_string(branch) and not any(key in branch for key in _NARROWING)


def _a_string(branch: dict[str, Any]) -> bool:
    """Whether ``branch`` accepts strings only (``{"const": ""}`` included)."""
    return _is_string(branch) or (list(branch) == ["const"] and isinstance(branch["const"], str))


def _is_string(branch: dict[str, Any]) -> bool:
    return branch.get("type") == "string" and branch.get("format") in _FREE_FORMATS
