"""YAML loading that remembers where every key came from, with ``!include``, ``!env`` and ``!file``.

Mappings load as :class:`Located` dicts and sequences as :class:`LocatedList`; both carry the file and line of
each item so that a validation error can point at ``conf.d/mysql.conf:12``.

A broken or hostile file gets one line, never a traceback or a stall. As robust YAML consumers do (Go's yaml.v3
"excessive aliasing", SnakeYAML's alias limit), the loader counts the values a configuration holds with every
alias and ``!include`` expanded, while it composes, before anything is built: aliases and repeated includes may
add at most :data:`MAX_REPEATED` values beyond those written out, and the whole at most :data:`MAX_VALUES`. A
400-byte "billion laughs" file would otherwise grow to gigabytes. Nothing may nest deeper than :data:`MAX_DEPTH`
levels, an ``!include`` may not come back to a file that is being loaded, a file is parsed once however often it
is included, and every file read must be one that only root or the running user can change
(:mod:`corral.config.trust`).
"""

from __future__ import annotations

import glob
import io
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

from corral.config.trust import untrusted
from corral.errors import ConfigError

MAX_VALUES = 100_000  # values (scalars, lists, mappings) after aliases and includes are expanded
MAX_REPEATED = 10_000  # values aliases and repeated includes may add beyond as many as are written out
MAX_DEPTH = 50  # levels of nesting, counted across included files
MAX_INCLUDE_DEPTH = 8  # files including files
MAX_FILE_BYTES = 16 * 2**20
MAX_SECRET_BYTES = 64 * 2**10


class Located(dict[Any, Any]):
    """A mapping that knows its file, its line, and the line of each key."""

    file: str = "?"
    line: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


@dataclass(frozen=True)
class BrokenFile:
    """An included job file that could not be loaded: it stands in the jobs list where its jobs would be.

    A typo in one job file must not stop the jobs of the others; validation reports it as a job that cannot run.
    """

    file: str
    problems: list[str]


class LocatedList(list[Any]):
    """A sequence that knows its file and line, and the file and line of each item."""

    file: str = "?"
    line: int = 0

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_lines: list[int] = []


@dataclass(frozen=True)
class _Loaded:
    """One file of the configuration, loaded: its value, its values counted with what it includes, its height."""

    data: Any
    values: int
    height: int


@dataclass
class _Load:
    """What the main file and every file it includes share: the count of values and the files met so far."""

    chain: list[str] = field(default_factory=list)  # real paths of the files being loaded, outermost first
    files: dict[str, _Loaded] = field(default_factory=dict)
    values: int = 0  # every value, as if aliases and repeated includes were written out
    repeated: int = 0  # the share of aliases and repeated includes
    read: dict[str, str] = field(default_factory=dict)  # every file read: `config`, or `secret` for a `!file`

    def charge(self, values: int, where: str, repeated: bool = False) -> None:
        """Count ``values`` more (``repeated``: from an alias or an included file met before)."""
        self.values += values
        self.repeated += values if repeated else 0
        written = self.values - self.repeated
        if self.values > MAX_VALUES:
            problem = f"the configuration holds more than {MAX_VALUES:,} values, aliases and includes expanded"
        elif self.repeated > MAX_REPEATED + written:
            problem = f"aliases and repeated includes add more than {MAX_REPEATED:,} values beyond those written out"
        else:
            return
        raise ConfigError([f"{where}: {problem}; write the repeated parts out, or split the configuration"])


def _where(loader: _Loader, node: yaml.Node) -> str:
    return f"{loader.name}:{node.start_mark.line + 1}"


def _too_deep(where: str) -> ConfigError:
    return ConfigError([f"{where}: nested more than {MAX_DEPTH} levels deep (counting aliases and includes)"])


class _Loader(yaml.SafeLoader):
    """SafeLoader with located containers, duplicate-key detection, the corral tags and the limits."""

    def __init__(self, text: str, name: str, load: _Load, level: int) -> None:
        super().__init__(text)
        self.name = name
        self.load = load
        self.level = level  # levels around this file's root: an included file sits inside its `!include`
        self.open = 0
        self.shapes: dict[int, tuple[int, int, bool]] = {}  # id(node): values, height, holds an `!include`
        self.include_levels: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        """Compose as PyYAML does, counting every value as if aliases were expanded, and the nesting."""
        event = self.peek_event()
        where = f"{self.name}:{event.start_mark.line + 1}"
        level = self.level + self.open + 1
        if isinstance(event, yaml.AliasEvent):
            node = cast(yaml.Node, super().compose_node(parent, index))
            self._expand_alias(node, str(event.anchor), level, where)
            return node
        if level > MAX_DEPTH:
            raise _too_deep(where)
        before = self.load.values
        self.open += 1
        try:
            node = cast(yaml.Node, super().compose_node(parent, index))
        finally:
            self.open -= 1
        self.load.charge(1, where)
        children = [self.shapes[id(child)] for child in _children(node)]
        includes = node.tag == "!include" or any(child[2] for child in children)
        self.shapes[id(node)] = (self.load.values - before, 1 + max((c[1] for c in children), default=0), includes)
        if node.tag == "!include":
            self.include_levels[id(node)] = level
        return node

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        """Stop at once at a deep ``[[[[...``: PyYAML scans ahead of every open bracket, slower as they pile up."""
        if self.flow_level >= MAX_DEPTH:
            raise _too_deep(f"{self.name}:{self.line + 1}")
        super().fetch_flow_collection_start(token_class)

    def _expand_alias(self, node: yaml.Node, anchor: str, level: int, where: str) -> None:
        shape = self.shapes.get(id(node))
        if shape is None:
            raise ConfigError([f"{where}: alias `*{anchor}` is used inside its own anchor `&{anchor}`; remove it"])
        values, height, includes = shape
        if includes:
            raise ConfigError([f"{where}: alias `*{anchor}` repeats an `!include`; write the `!include` again"])
        if level + height - 1 > MAX_DEPTH:
            raise _too_deep(where)
        self.load.charge(values, where, repeated=True)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """Values PyYAML's own constructors cannot build (``!!int ''``, ``!!timestamp 2024-13-01``) are one line."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, ArithmeticError, LookupError, AttributeError) as exc:
            reason = str(exc) if isinstance(exc, ValueError) and str(exc) else "not a valid value"
            shown = f" `{node.value[:60]}`" if isinstance(node.value, str) else ""
            raise ConfigError([f"{_where(self, node)}: invalid {node.tag}{shown}: {reason}"]) from None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


_OCTAL_KEYS = frozenset({"file_mode", "dir_mode"})  # permission bits: how the number was written matters


class WrittenInt(int):
    """An integer that remembers how the file wrote it: `0640` is octal in YAML 1.1, `640` or `400` decimal."""

    written: str

    def __new__(cls, value: int, written: str) -> WrittenInt:
        number = super().__new__(cls, value)
        number.written = written
        return number


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
        value = loader.construct_object(value_node, deep=True)
        if key in _OCTAL_KEYS and type(value) is int and isinstance(value_node, yaml.ScalarNode):
            value = WrittenInt(value, str(value_node.value))
        mapping[key] = value
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
    where = _where(loader, node)
    if isinstance(node, yaml.ScalarNode):
        patterns = [loader.construct_scalar(node)]
    elif isinstance(node, yaml.SequenceNode):
        patterns = [loader.construct_object(child, deep=True) for child in node.value]
    else:
        raise ConfigError([f"{where}: `!include` takes a glob or a list of globs"])
    level = loader.include_levels.get(id(node), loader.level + 1)
    jobs = LocatedList()
    jobs.file, jobs.line = loader.name, node.start_mark.line + 1
    for pattern in patterns:
        for path in _matches(pattern, Path(loader.name).parent, where):
            try:
                loaded = _load_isolated(Path(path), loader.load, level, where)
            except ConfigError as exc:
                if len(loader.load.chain) > 1 or os.path.realpath(path) in loader.load.chain:
                    raise  # a job file's own includes (the job file is what is broken), or the main file itself
                jobs.append(BrokenFile(path, exc.problems))
                jobs.item_lines.append(1)
                continue
            if loaded is None:
                continue
            if isinstance(loaded, Located):  # a file holding a single job
                loaded_list = LocatedList([loaded])
                loaded_list.item_lines = [loaded.line]
                loaded = loaded_list
            if not isinstance(loaded, LocatedList):
                problem = f"{path}:1: an included file must hold a list of jobs (`- job: NAME`)"
                if len(loader.load.chain) > 1:
                    raise ConfigError([problem])
                jobs.append(BrokenFile(path, [problem]))
                jobs.item_lines.append(1)
                continue
            jobs.extend(loaded)
            jobs.item_lines.extend(loaded.item_lines)
    return jobs


def _load_isolated(path: Path, load: _Load, level: int, where: str) -> Any:
    """An included file's value; when it is broken, the budget it used up is given back for the files after it."""
    values, repeated, chain = load.values, load.repeated, list(load.chain)
    try:
        return _load_file(path, load, level, where).data
    except ConfigError:
        load.values, load.repeated, load.chain[:] = values, repeated, chain
        raise
    except RecursionError:
        load.values, load.repeated, load.chain[:] = values, repeated, chain
        raise ConfigError([f"{path}: nested too deeply"]) from None


def _matches(pattern: Any, base: Path, where: str) -> list[str]:
    """The files an ``!include`` pattern names, in name order; a plain name must exist."""
    if not isinstance(pattern, str) or not pattern or "\0" in pattern:
        shown = repr(pattern)[:60]
        raise ConfigError([f"{where}: `!include` pattern {shown} must be a file name or a glob"])
    full = pattern if os.path.isabs(pattern) else str(base / pattern)
    if glob.has_magic(pattern):  # a glob names files: `conf.d/*` passes over the folder corral discover writes there
        return sorted(match for match in glob.glob(full) if not os.path.isdir(match))
    if not os.path.lexists(full):
        raise ConfigError([f"{where}: `!include` file `{full}` does not exist"])
    return [full]


def _construct_env(loader: _Loader, node: yaml.Node) -> str:
    """``db_password: !env MYSQL_PASSWORD``: the value of an environment variable."""
    name = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    where = _where(loader, node)
    if not name:
        raise ConfigError([f"{where}: `!env` needs the name of an environment variable"])
    try:
        value = os.environ.get(name) if "\0" not in name and "=" not in name else None
    except UnicodeEncodeError:  # a lone surrogate cannot name a variable
        value = None
    if value is None:
        raise ConfigError([f"{where}: `!env {name}`: environment variable `{name}` is not set"])
    return value


def _construct_file(loader: _Loader, node: yaml.Node) -> str:
    """``db_password: !file /etc/corral/secrets/mysql``: the first line of a file (for secrets)."""
    name = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    where = _where(loader, node)
    if not name or "\0" in name:
        raise ConfigError([f"{where}: `!file` needs the path of a file"])
    # a relative name is resolved from the including file's folder, not from where corral was started: say where
    path = Path(os.path.abspath(name if os.path.isabs(name) else Path(loader.name).parent / name))
    data = _read(path, f"{where}: `!file {name}` resolved to " if str(path) != name else f"{where}: `!file` ",
                 MAX_SECRET_BYTES)
    loader.load.read[str(path)] = "secret"
    head = data.partition(b"\n")[0]
    if len(head) > MAX_SECRET_BYTES:
        raise ConfigError([f"{where}: `!file` `{path}`: its first line is longer than {MAX_SECRET_BYTES} bytes"])
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([f"{where}: `!file` `{path}`: its first line is not UTF-8 text"]) from None
    return text.splitlines()[0] if text else ""


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_Loader.add_constructor("!include", _construct_include)
_Loader.add_constructor("!env", _construct_env)
_Loader.add_constructor("!file", _construct_file)


def _read(path: Path, prefix: str, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes of a regular file that only root or the running user can change."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        raise ConfigError([f"{prefix}{path}: cannot read: {exc.strerror}"]) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError([f"{prefix}{path}: not a regular file"])
        problem = untrusted(fd, str(path))
        if problem:
            raise ConfigError([f"{prefix}{problem}"])
        with io.FileIO(fd, closefd=False) as stream:
            return stream.read(limit + 1)
    except OSError as exc:
        raise ConfigError([f"{prefix}{path}: cannot read: {exc.strerror}"]) from None
    finally:
        os.close(fd)


def read_trusted(path: Path, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes of a regular file that only root or the running user can change; ConfigError
    (one line) otherwise. For files the configuration names (a recipients file)."""
    return _read(path, "", limit)


def _load_file(path: Path, load: _Load, level: int, where: str = "") -> _Loaded:
    """Read, check and parse one file of the configuration, or take it from the files already loaded."""
    prefix = f"{where}: `!include` " if where else ""
    real = os.path.realpath(path)
    if real in load.chain:
        loop = " -> ".join([*load.chain[load.chain.index(real) :], real])
        raise ConfigError([f"{prefix}`{path}` includes itself ({loop}); remove that `!include`"])
    if len(load.chain) > MAX_INCLUDE_DEPTH:
        raise ConfigError([f"{prefix}`{path}`: includes nest more than {MAX_INCLUDE_DEPTH} files deep"])
    if real in load.files:  # included again: no second parse, but it counts again
        loaded = load.files[real]
        load.charge(loaded.values, where, repeated=True)
        if level + loaded.height > MAX_DEPTH:
            raise _too_deep(where)
        return loaded
    data = _read(path, prefix, MAX_FILE_BYTES)
    load.read.setdefault(str(path), "config")
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError([f"{prefix}{path}: larger than {MAX_FILE_BYTES // 2**20} MiB; not a configuration"])
    before = load.values
    load.chain.append(real)
    try:
        value, height = _parse(data, path, load, level)
    finally:
        load.chain.pop()
    load.files[real] = loaded = _Loaded(value, load.values - before, height)
    return loaded


def _parse(data: bytes, path: Path, load: _Load, level: int) -> tuple[Any, int]:
    """The value of one YAML document and its height; YAML errors become one line naming file and line."""
    try:
        text = data.decode("utf-8")
        loader = _Loader(text, str(path), load, level)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, 0
            return loader.construct_document(node), loader.shapes[id(node)][1]
        finally:
            loader.dispose()
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not a UTF-8 text file"]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError([f"{path}:{line}: invalid YAML: {problem}"]) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError([f"{path}:{line}: invalid YAML: unacceptable character #x{exc.character:04x}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: invalid YAML: {exc}"]) from None


def load_yaml(path: Path, read: dict[str, str] | None = None) -> Any:
    """Load one YAML file and what it includes, with located containers; every problem is one ConfigError line.

    ``read``: filled with every file read (the main file, each included file, each ``!file``), as ``config`` or
    ``secret``, for ``corral doctor``'s look at their permissions."""
    load = _Load(read=read if read is not None else {})
    try:
        return _load_file(path, load, level=0).data
    except RecursionError:  # the limits should prevent it; never a traceback if they do not
        raise ConfigError([f"{path}: nested too deeply"]) from None
