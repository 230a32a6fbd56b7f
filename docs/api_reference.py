"""Write docs/api.md, the plugin API reference, from the docstrings: the hooks of ``corral.hookspecs`` and every
name ``corral`` exports. Run ``python docs/api_reference.py > docs/api.md``; core/tests/test_api_reference.py
fails while the file differs from what this prints (a docstring changed, a name was added)."""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
from typing import Any

from pydantic import BaseModel

import corral
from corral import hookspecs

HEADER = """# Plugin API reference

Generated from the docstrings by `python docs/api_reference.py > docs/api.md` (a test keeps it current). How to
write a plugin, with worked examples: [writing-plugins.md](writing-plugins.md). Everything here is imported from
`corral` alone (`from corral import Archive, hookimpl`); `corral.targets` and `corral.doctoring` are modules of
helpers. A name not listed here is internal and may change.
"""


def _doc(thing: Any) -> str:
    return inspect.cleandoc(thing.__doc__ or "").strip() or "(undocumented)"


def _signature(thing: Any) -> str:
    try:
        shown = str(inspect.signature(thing)).replace("'", "")
    except (TypeError, ValueError):
        return "(...)"
    return re.sub(r"<(?:function |class )?([\w.]+)(?: object)? at 0x[0-9a-f]+>", r"\1", shown)  # no addresses


def _members(cls: type) -> list[str]:
    """Public methods and properties ``cls`` declares itself, each with its docstring's first paragraph."""
    lines = []
    for name, value in vars(cls).items():
        if name.startswith("_") or not (callable(value) or isinstance(value, property)):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        shown = f"`{name}`" if isinstance(value, property) else f"`{name}{_signature(value)}`"
        doc = inspect.cleandoc(getattr(value, "__doc__", None) or "").split("\n\n")[0].replace("\n", " ")
        lines.append(f"- {shown}" + (f": {doc}" if doc else ""))
    return lines


def _fields(cls: type) -> list[str]:
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        own = cls.__annotations__ if "__annotations__" in vars(cls) else {}
        return [f"- `{name}`: {info.description or ''}".rstrip(": ") for name, info in cls.model_fields.items()
                if name in own]
    if dataclasses.is_dataclass(cls):
        return [f"- `{field.name}`" for field in dataclasses.fields(cls)]
    return []


def _entry(name: str, thing: Any) -> list[str]:
    if isinstance(thing, types.ModuleType):
        functions = [(n, f) for n, f in vars(thing).items()
                     if inspect.isfunction(f) and not n.startswith("_") and f.__module__ == thing.__name__]
        return [f"### module `corral.{name}`", "", _doc(thing), "",
                *[f"- `{n}{_signature(f)}`: {_doc(f).splitlines()[0]}" for n, f in functions], ""]
    if inspect.isclass(thing):
        bases = ", ".join(b.__name__ for b in thing.__bases__ if b is not object)
        lines = [f"### class `{name}`" + (f" ({bases})" if bases else ""), "", _doc(thing), ""]
        fields, members = _fields(thing), _members(thing)
        if fields:
            lines += ["Fields:", "", *fields, ""]
        if members:
            lines += ["Methods and properties:", "", *members, ""]
        return lines
    if callable(thing) and not isinstance(thing, type(hookspecs.hookspec)):
        return [f"### `{name}{_signature(thing)}`", "", _doc(thing), ""]
    return [f"### `{name}`", "", _doc(type(thing)) if not isinstance(thing, str) else f"`{thing!r}`", ""]


def reference() -> str:
    """The text of docs/api.md."""
    lines = [HEADER, "## Hooks", "", _doc(hookspecs), ""]
    for name, spec in vars(hookspecs).items():
        if name.startswith("corral_") and inspect.isfunction(spec):
            lines += [f"### `{name}{_signature(spec)}`", "", _doc(spec), ""]
    lines += ["## Names in `corral`", ""]
    for name in corral.__all__:
        if name != "__version__":
            lines += _entry(name, getattr(corral, name))
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(reference(), end="")
