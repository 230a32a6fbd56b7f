"""nxs-backup files read with the line of every key, their ``!include`` kept as the patterns it names.

Reading goes through :func:`corral.config.loader.read_trusted`, as every configuration file corral reads: a
regular file, at most 16 MiB, that only root or the running user can change.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from corral.config.loader import MAX_FILE_BYTES, MAX_VALUES, read_trusted
from corral.errors import ConfigError


class MigrateError(Exception):
    """A file ``corral migrate`` cannot read or write: one line, naming it."""


class Map(dict[str, Any]):
    """A mapping that knows its file and the line of each key."""

    file: str = "?"
    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[str, int] = {}
        self.texts: dict[str, str] = {}  # a plain scalar YAML 1.1 read as no string (`0123`, `yes`): as written

    def at(self, key: str | None = None) -> str:
        """``FILE:LINE`` of ``key`` (of the mapping itself without one)."""
        return f"{self.file}:{self.lines.get(key, self.line) if key is not None else self.line}"


@dataclass(frozen=True)
class Include:
    """``!include [globs]`` of a 2.x main file: the patterns, relative to the including file."""

    patterns: tuple[str, ...]
    line: int = 0


class _Loader(yaml.SafeLoader):
    """SafeLoader with located mappings; ``!include`` kept; other tags read as their plain value; at most
    MAX_VALUES values with every alias expanded (an alias bomb is refused before anything is built)."""

    values = 0
    sizes: dict[int, int]

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        """Compose as PyYAML does, counting each value as often as aliases repeat it."""
        if not hasattr(self, "sizes"):
            self.sizes = {}
        alias = isinstance(self.peek_event(), yaml.AliasEvent)
        node = cast(yaml.Node, super().compose_node(parent, index))
        if alias:
            size = self.sizes.get(id(node), 1)
        else:
            children = node.value if isinstance(node, yaml.SequenceNode) else (
                [part for pair in node.value for part in pair] if isinstance(node, yaml.MappingNode) else [])
            size = self.sizes[id(node)] = 1 + sum(self.sizes.get(id(child), 1) for child in children)
        self.values += size if alias else 1
        if self.values > MAX_VALUES:
            raise MigrateError(f"{self.name}:{node.start_mark.line + 1}: more than {MAX_VALUES:,} values with "
                               "the aliases expanded: not an nxs-backup configuration")
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """A value PyYAML cannot build (``!!int ''``, ``!!timestamp 2024-13-01``) is one line (not the value)."""
        try:
            value = super().construct_object(node, deep)
            if isinstance(value, str):
                value.encode("utf-8")  # `"\ud800"`: a lone surrogate, which no file and no name can hold
            return value
        except (ValueError, TypeError, ArithmeticError, LookupError):  # UnicodeEncodeError is a ValueError
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise MigrateError(f"{self.name}:{node.start_mark.line + 1}: invalid {tag} value") from None


def _mapping(loader: _Loader, node: yaml.MappingNode) -> Map:
    loader.flatten_mapping(node)
    result = Map()
    result.file, result.line = loader.name, node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = str(loader.construct_object(key_node, deep=True))
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
        if isinstance(value_node, yaml.ScalarNode) and value_node.style is None and not isinstance(result[key], str):
            result.texts[key] = value_node.value
    return result


def _include(loader: _Loader, node: yaml.Node) -> Include:
    if isinstance(node, yaml.SequenceNode):
        return Include(tuple(str(loader.construct_scalar(child)) for child in node.value
                             if isinstance(child, yaml.ScalarNode)), node.start_mark.line + 1)
    return Include((str(loader.construct_scalar(node)),), node.start_mark.line + 1)  # type: ignore[arg-type]


def _other_tag(loader: _Loader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return _mapping(loader, node)  # type: ignore[arg-type]


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor("!include", _include)
_Loader.add_multi_constructor("!", _other_tag)


def read(path: Path) -> Any:
    """The value of one YAML file, located; a problem is a MigrateError naming the file (and line)."""
    try:
        data = read_trusted(path, MAX_FILE_BYTES)
    except ConfigError as exc:
        raise MigrateError("; ".join(exc.problems)) from None
    if len(data) > MAX_FILE_BYTES:
        raise MigrateError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB; not a configuration")
    try:
        loader = _Loader(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise MigrateError(f"{path}: not a UTF-8 text file") from None
    loader.name = str(path)
    try:
        return _no_stray_include(loader.get_single_data(), path)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise MigrateError(f"{path}:{line}: invalid YAML: {exc.problem or exc.context}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise MigrateError(f"{path}: invalid YAML: {type(exc).__name__}") from None
    finally:
        loader.dispose()


def _no_stray_include(data: Any, path: Path) -> Any:
    """``data``, unless it holds an ``!include`` elsewhere than as the value of a top-level ``jobs:`` (2.x's)."""
    stack = [item for key, item in data.items() if key != "jobs" or not isinstance(item, Include)] if isinstance(
        data, Map) else [data]
    while stack:
        item = stack.pop()
        if isinstance(item, Include):
            raise MigrateError(f"{path}:{item.line}: `!include` names job files only, as 2.x's `jobs: !include "
                               "[conf.d/*.conf]`: write the value itself there")
        stack.extend(item.values() if isinstance(item, dict) else item if isinstance(item, list) else ())
    return data


def comments(path: Path) -> int:
    """How many comment lines ``path`` holds (PyYAML drops them: the report says so)."""
    try:
        text = read_trusted(path, MAX_FILE_BYTES).decode("utf-8", "replace")
    except ConfigError:
        return 0
    return sum(1 for line in text.splitlines() if line.lstrip().startswith("#"))


def matches(patterns: list[str] | tuple[str, ...], base: Path) -> list[Path]:
    """The files the include patterns name, relative to ``base``, in name order (folders left out)."""
    found: list[Path] = []
    for pattern in patterns:
        full = pattern if os.path.isabs(pattern) else str(base / pattern)
        names = sorted(glob.glob(full)) if glob.has_magic(pattern) else [full]
        found.extend(Path(name) for name in names if not os.path.isdir(name) and Path(name) not in found)
    return found
