"""YAML loading that remembers where every key came from, with ``!include``, ``!env`` and ``!file``.

Mappings load as :class:`Located` dicts and sequences as :class:`LocatedList`; both carry the file and line of
each item so that a validation error can point at ``conf.d/mysql.conf:12``.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

import yaml

from corral.errors import ConfigError


class Located(dict[Any, Any]):
    """A mapping that knows its file, its line, and the line of each key."""

    file: str = "?"
    line: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class LocatedList(list[Any]):
    """A sequence that knows its file and line, and the file and line of each item."""

    file: str = "?"
    line: int = 0

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_lines: list[int] = []


def _where(loader: _Loader, node: yaml.Node) -> str:
    return f"{loader.name}:{node.start_mark.line + 1}"


class _Loader(yaml.SafeLoader):
    """SafeLoader with located containers, duplicate-key detection and the corral tags."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Located:
    loader.flatten_mapping(node)
    mapping = Located()
    mapping.file, mapping.line = loader.name, node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise ConfigError([f"{_where(loader, key_node)}: a key must be a plain word, not {type(key).__name__}"])
        if key in mapping:
            raise ConfigError(
                [
                    f"{_where(loader, key_node)}: key `{key}` appears twice in the same mapping "
                    f"(first on line {mapping.key_lines[key]}); keep one"
                ]
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    items = LocatedList()
    items.file, items.line = loader.name, node.start_mark.line + 1
    for child in node.value:
        items.append(loader.construct_object(child, deep=True))
        items.item_lines.append(child.start_mark.line + 1)
    return items


def _construct_include(loader: _Loader, node: yaml.Node) -> LocatedList:
    """``!include [conf.d/*.conf, other.conf]``: the jobs of every matching file, in name order."""
    if isinstance(node, yaml.ScalarNode):
        patterns = [loader.construct_scalar(node)]
    elif isinstance(node, yaml.SequenceNode):
        patterns = [loader.construct_object(child) for child in node.value]
    else:
        raise ConfigError([f"{_where(loader, node)}: `!include` takes a glob or a list of globs"])
    base = Path(loader.name).parent
    jobs = LocatedList()
    jobs.file, jobs.line = loader.name, node.start_mark.line + 1
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise ConfigError([f"{_where(loader, node)}: `!include` pattern {pattern!r} must be a string"])
        full = pattern if os.path.isabs(pattern) else str(base / pattern)
        matches = sorted(glob.glob(full))
        if not matches and not glob.has_magic(pattern):
            raise ConfigError([f"{_where(loader, node)}: `!include` file `{full}` does not exist"])
        for path in matches:
            loaded = load_yaml(Path(path))
            if loaded is None:
                continue
            if isinstance(loaded, Located):  # a file holding a single job
                loaded_list = LocatedList([loaded])
                loaded_list.item_lines = [loaded.line]
                loaded = loaded_list
            if not isinstance(loaded, LocatedList):
                raise ConfigError([f"{path}:1: an included file must hold a list of jobs (`- job: NAME`)"])
            jobs.extend(loaded)
            jobs.item_lines.extend(loaded.item_lines)
    return jobs


def _construct_env(loader: _Loader, node: yaml.Node) -> str:
    """``db_password: !env MYSQL_PASSWORD``: the value of an environment variable."""
    name = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    if name not in os.environ:
        raise ConfigError([f"{_where(loader, node)}: `!env {name}`: environment variable `{name}` is not set"])
    return os.environ[name]


def _construct_file(loader: _Loader, node: yaml.Node) -> str:
    """``db_password: !file /etc/corral/secrets/mysql``: the first line of a file (for secrets)."""
    name = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    path = Path(name) if os.path.isabs(name) else Path(loader.name).parent / name
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError([f"{_where(loader, node)}: `!file {name}`: {exc.strerror}"]) from None
    return text.splitlines()[0] if text else ""


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_Loader.add_constructor("!include", _construct_include)
_Loader.add_constructor("!env", _construct_env)
_Loader.add_constructor("!file", _construct_file)


def load_yaml(path: Path) -> Any:
    """Load one YAML file with located containers; syntax errors become a one-line ConfigError."""
    try:
        with path.open(encoding="utf-8") as stream:
            loader = _Loader(stream)
            try:
                return loader.get_single_data()
            finally:
                loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError([f"{path}:{line}: invalid YAML: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: invalid YAML: {exc}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not a UTF-8 text file"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
