"""Read a PHP settings file the way PHP would, without running it.

CMS settings files (``wp-config.php``, ``bitrix/.settings.php``, Drupal's ``settings.php``, Joomla's
``configuration.php``) are PHP, written by site owners corral does not trust. They are parsed with tree-sitter's PHP
grammar and a small evaluator walks the syntax tree for the subset such files use: literals (both quotes and their
escapes, nowdoc), ``.`` concatenation, arrays (``[]`` and ``array()``, nested), ``define()`` (the first one wins,
as in PHP), constants (``__DIR__``, ``__FILE__``, ``DIRECTORY_SEPARATOR``, the file's own and ``const``), variables and
``$a['k']['l'] = ...``, ``return [...]``, class property defaults (Joomla's ``JConfig``), ``??``, ``?:``, ``isset()``,
``if`` whose condition is decidable (``defined()``, ``file_exists()`` inside the project...), ``getenv('X')``,
``$_ENV['X']``, ``$_SERVER['X']`` and ``env('X', default)`` from the environment the caller knows (a ``.env`` the
app loads) and the includes the caller allows.

Everything else (a function call, ``eval``, a variable set under a condition that cannot be decided...) evaluates to
:class:`Unknown`, which says where and why but never holds the value: the caller reports it for the keys it needs
and guesses nothing. No code from the file is ever run.

A hostile file costs bounded time and memory: a parse is cut at :data:`PARSE_SECONDS`, expressions and blocks at
:data:`MAX_DEPTH` levels, a file at :data:`MAX_STATEMENTS` statements, strings at :data:`MAX_STRING` characters,
and messages name identifiers only (:func:`shown`), never a string of the file.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeAlias

from tree_sitter import Language, Node, Parser

MAX_DEPTH = 64
"""How deeply expressions (nested arrays, long ``.`` chains) are evaluated; deeper is :class:`Unknown`."""
MAX_INCLUDES = 8
"""How many files one evaluation may include (each at most once)."""
MAX_STATEMENTS = 20_000
"""How many statements one evaluation looks at, includes and branches counted."""
MAX_STRING = 1 << 20
"""The longest string built (``$a = $a . $a`` twenty times over is a mebibyte; sixty, an exabyte)."""
MAX_BUILT = 16 * MAX_STRING
"""The most characters one evaluation builds, every string counted (19,000 copies of a 512 KiB one are 9 GiB)."""


@dataclass(frozen=True)
class Unknown:
    """A value corral cannot know without running the code. ``why`` names the construct (a function, a constant,
    an environment variable), never a value: it goes into problem lines as it is."""

    line: int
    why: str
    unset: bool = False
    """Known not to be set, as far as the file and the environment corral knows say: ``??`` and ``isset()`` take
    it for ``null``; used as a value, it is still unknown (the process's environment may set it)."""


Value: TypeAlias = str | int | float | bool | dict[Any, Any] | Unknown | None
"""A PHP value: a PHP array is a ``dict`` (keys ``int`` or ``str``, in order)."""


class Refused(Exception):
    """A file the caller will not read (a link out of the project, a FIFO, too large): the message names it."""


@dataclass
class PhpFile:
    """What a settings file leaves behind once "run": its constants, top-level variables, class property
    defaults and the value a ``return`` gave. ``error``: a syntax error (``line N: ...``), in which case nothing
    else is to be trusted. ``problems``: included files that could not be read."""

    path: Path
    constants: dict[str, Value] = field(default_factory=dict)
    variables: dict[str, Value] = field(default_factory=dict)
    classes: dict[str, dict[str, Value]] = field(default_factory=dict)
    returned: Value = None
    has_return: bool = False
    error: str | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class Environment:
    """Where ``getenv()`` and ``$_ENV``/``$_SERVER`` get their values. ``None``: the PHP process's environment,
    which corral cannot see (set by PHP-FPM's pool or Apache's ``SetEnv``). ``source`` names it in messages."""

    getenv: Mapping[str, str] | None = None
    superglobals: Mapping[str, str] | None = None
    source: str = "the PHP process's environment"


@dataclass(frozen=True)
class Host:
    """What the evaluator may ask of the filesystem, all confined to the project by the caller.

    ``read(path)`` returns a file's bytes or raises :class:`Refused`; ``may_include(path)`` says whether an
    ``include`` of it is followed; ``exists(path)`` answers ``file_exists()`` (``None``: not known, e.g. outside the
    project); ``load_dotenv(folder)`` is called for ``Dotenv\\Dotenv::create*(folder)->load()`` and returns the
    variables or raises :class:`Refused`."""

    read: Callable[[Path], bytes]
    may_include: Callable[[Path], bool] = lambda path: False
    exists: Callable[[Path], bool | None] = lambda path: None
    load_dotenv: Callable[[Path], Mapping[str, str]] | None = None


@lru_cache(maxsize=1)
def _parser() -> Parser:
    import tree_sitter_php

    return Parser(Language(tree_sitter_php.language_php()))


PARSE_SECONDS = 5.0
"""How long one file may take to parse: a settings file takes milliseconds, but some malformed input (a string of
``{$a{$a...``) makes tree-sitter's error recovery take about a minute per MiB."""


def parse(source: bytes) -> tuple[Node, str | None]:
    """The syntax tree and the first syntax error (``line N: ...``) or a parse cut at :data:`PARSE_SECONDS`."""
    deadline = time.monotonic() + PARSE_SECONDS
    cut = parsed = False

    def read(offset: int, point: object) -> bytes:
        nonlocal cut
        if not parsed and time.monotonic() > deadline:
            cut = True
            return b""
        return source[offset : offset + (1024 if parsed else 16384)]  # after the parse: a node's text, never cut

    root = _parser().parse(read).root_node
    parsed = True
    if cut:
        return root, f"took longer than {PARSE_SECONDS:g} s to parse"
    return root, syntax_error(root)


def syntax_error(root: Node) -> str | None:
    """``line N: PHP syntax error`` for the first error or missing token, else ``None`` (no recursion: a deeply
    nested file cannot exhaust the stack)."""
    if not root.has_error:
        return None
    cursor = root.walk()
    while True:
        node = cursor.node
        if node is not None and (node.is_error or node.is_missing):
            return f"line {node.start_point.row + 1}: PHP syntax error"
        if node is not None and node.has_error and cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return f"line {root.start_point.row + 1}: PHP syntax error"


def evaluate(
    path: Path, host: Host, environment: Environment | None = None, variables: Mapping[str, Value] | None = None
) -> PhpFile:
    """Evaluate the settings file at ``path`` (read through ``host.read``, which may raise :class:`Refused`);
    ``variables``: those the application sets before it includes the file (Drupal's ``$app_root``...)."""
    source = host.read(path)
    result = PhpFile(path=path, variables=dict(variables or {}))
    root, error = parse(source)
    if error:
        result.error = error
        return result
    _Evaluator(result, host, environment or Environment()).run_file(path, root)
    return result


class _Return(Exception):
    """A ``return`` statement ended the file being evaluated."""


_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "v": "\v", "e": "\x1b", "f": "\f", "\\": "\\", "$": "$", '"': '"'}
_ESCAPE = re.compile(r"\\(?:([ntrvef\\$\"])|([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|u\{([0-9A-Fa-f]+)\})")
_CONDITIONAL_TYPES = frozenset(
    {"while_statement", "do_statement", "for_statement", "foreach_statement", "switch_statement", "try_statement"}
)


def _unescape_double(text: str) -> str:
    """PHP's double-quoted escapes (an unknown one stays as written, as PHP leaves it)."""

    def one(match: re.Match[str]) -> str:
        simple, octal, hexa, uni = match.groups()
        if simple:
            return _SIMPLE_ESCAPES[simple]
        if octal:
            return chr(int(octal, 8) & 0xFF)
        if hexa:
            return chr(int(hexa, 16))
        return chr(int(uni, 16)) if int(uni, 16) <= 0x10FFFF else match.group(0)

    return _ESCAPE.sub(one, text)


def _unescape_single(text: str) -> str:
    """PHP's single-quoted escapes: only ``\\\\`` and ``\\'``."""
    return re.sub(r"\\([\\'])", r"\1", text)


def _php_int(text: str) -> int:
    text = text.replace("_", "").lower()
    if text.startswith("0x"):
        return int(text, 16)
    if text.startswith("0b"):
        return int(text, 2)
    if text.startswith("0o"):
        return int(text[2:], 8)
    if len(text) > 1 and text.startswith("0"):
        return int(text, 8)
    return int(text)


def to_string(value: Value) -> str | Unknown:
    """PHP's string conversion of a scalar (``true`` is ``"1"``, ``false`` and ``null`` are ``""``)."""
    if isinstance(value, Unknown):
        return value
    if value is True:
        return "1"
    if value is False or value is None:
        return ""
    if isinstance(value, (int, str)):
        return str(value)
    if isinstance(value, float):
        return repr(value).removesuffix(".0")
    return Unknown(0, "an array used as a string")


def _truthy(value: Value) -> bool | Unknown:
    if isinstance(value, Unknown):
        return value
    if isinstance(value, str):
        return value not in ("", "0")
    return bool(value)


def _array_key(key: Value) -> int | str | Unknown:
    if isinstance(key, Unknown):
        return key
    if isinstance(key, bool):
        return int(key)
    if key is None:
        return ""
    if isinstance(key, float):
        return int(key)
    if isinstance(key, str) and re.fullmatch(r"-?[1-9][0-9]*|0", key):
        return int(key)
    if isinstance(key, (int, str)):
        return key
    return Unknown(0, "an array used as a key")


_IDENTIFIER = re.compile(r"[A-Za-z_\\$][A-Za-z0-9_\\$:>-]{0,59}")


def shown(text: str) -> str:
    """A name from the file as a message may show it: an identifier (a function, a constant, an environment
    variable), else a placeholder, so that no string of the file (a password) ever reaches a message."""
    return text if _IDENTIFIER.fullmatch(text) else "(a computed name)"


def _name(node: Node) -> str:
    """A short, printable identifier for messages (a name in code, never a value); a long node is not read (its
    text would be copied at every look, quadratic in a nested file)."""
    if node.end_byte - node.start_byte > 256:
        return "(a long expression)"
    text = (node.text or b"").decode("utf-8", "replace")
    text = "".join(ch for ch in text if ch.isprintable())
    return text[:60]


class _Evaluator:
    def __init__(self, result: PhpFile, host: Host, environment: Environment) -> None:
        self.result = result
        self.host = host
        self.environment = environment
        self.included: set[Path] = set()
        self.dotenv_pending: dict[str, Node] = {}
        self.statements = 0
        self.nesting = 0
        self.built = 0
        self.file = result.path

    # -- statements -----------------------------------------------------------------------------------------------

    def run_file(self, path: Path, root: Node) -> None:
        previous, self.file = self.file, path
        try:
            for child in root.named_children:
                self.statement(child)
        except _Return:
            pass
        finally:
            self.file = previous

    def statement(self, node: Node) -> None:
        self.statements += 1
        if self.statements > MAX_STATEMENTS:
            if self.statements == MAX_STATEMENTS + 1:
                self.result.problems.append(f"{self.file}: more than {MAX_STATEMENTS} statements: the rest is not read")
            raise _Return
        if self.nesting >= MAX_DEPTH:
            line = node.start_point.row + 1
            self.result.problems.append(f"{self.file}:{line}: blocks nested deeper than {MAX_DEPTH}: not read")
            self.taint(node, f"set in blocks nested deeper than {MAX_DEPTH} (line {line})")
            return
        self.nesting += 1
        try:
            self.one_statement(node)
        finally:
            self.nesting -= 1

    def one_statement(self, node: Node) -> None:
        kind = node.type
        if kind == "expression_statement" and node.named_children:
            self.expression_statement(node.named_children[0])
        elif kind == "return_statement":
            if self.file == self.result.path:
                value = node.named_children[0] if node.named_children else None
                self.result.returned = self.expr(value) if value is not None else None
                self.result.has_return = True
            raise _Return
        elif kind in ("compound_statement", "colon_block"):
            for child in node.named_children:
                self.statement(child)
        elif kind == "if_statement":
            self.if_statement(node)
        elif kind == "class_declaration":
            self.class_declaration(node)
        elif kind == "const_declaration":
            for element in node.named_children:
                parts = element.named_children
                if element.type == "const_element" and len(parts) == 2 and _name(parts[0]) not in self.result.constants:
                    self.result.constants[_name(parts[0])] = self.expr(parts[1])
        elif kind in ("namespace_definition",):
            body = node.child_by_field_name("body")
            for child in body.named_children if body is not None else ():
                self.statement(child)
        elif kind in _CONDITIONAL_TYPES:
            self.taint(node, f"set in a `{kind.removesuffix('_statement')}` block (line {node.start_point.row + 1})")

    def expression_statement(self, node: Node) -> None:
        kind = node.type
        if kind == "assignment_expression":
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            if left is not None and right is not None:
                self.assign(left, self.expr(right))
                if left.type == "variable_name" and self.dotenv_creation(right) is not None:
                    self.dotenv_pending[_name(left).lstrip("$")] = right
        elif kind == "augmented_assignment_expression":
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            operator = node.child_by_field_name("operator")
            if left is not None and right is not None:
                if operator is not None and operator.type == ".=":
                    self.assign(left, self.concat(self.expr(left), self.expr(right), node))
                else:
                    self.assign(left, Unknown(node.start_point.row + 1, "changed by an operator corral does not run"))
        elif kind == "function_call_expression" and self.function_name(node) == "define":
            self.define(node)
        elif kind in ("include_expression", "include_once_expression", "require_expression", "require_once_expression"):
            self.include(node)
        elif kind == "member_call_expression":
            self.maybe_dotenv(node)

    def define(self, node: Node) -> None:
        args = self.arguments(node)
        if len(args) < 2:
            return
        name = self.expr(args[0])
        if isinstance(name, str) and name not in self.result.constants:
            self.result.constants[name] = self.expr(args[1])

    def assign(self, target: Node, value: Value) -> None:
        """``$x = v`` and ``$x['a']['b'] = v`` (``$x[] = v`` appends); anything else is ignored."""
        keys: list[Node | None] = []
        while target.type == "subscript_expression":
            index = target.named_children[1] if len(target.named_children) > 1 else None
            keys.append(index)
            target = target.named_children[0]
        if target.type != "variable_name":
            return
        name = _name(target).lstrip("$")
        if not keys:
            self.result.variables[name] = value
            return
        keys.reverse()
        line = target.start_point.row + 1
        container = self.result.variables.get(name)
        if container is not None and not isinstance(container, dict):
            return
        # PHP arrays are values: the path written is copied, so another variable holding the array keeps its own
        container = self.result.variables[name] = dict(container or {})
        for position, index in enumerate(keys):
            if index is None:
                key: int | str | Unknown = max((k for k in container if isinstance(k, int)), default=-1) + 1
            else:
                key = _array_key(self.expr(index))
            if isinstance(key, Unknown):
                self.result.variables[name] = Unknown(line, f"`${name}` gets a key corral cannot know")
                return
            if position == len(keys) - 1:
                container[key] = value
            else:
                inner = container.get(key)
                container[key] = dict(inner) if isinstance(inner, dict) else {}
                container = container[key]

    def if_statement(self, node: Node) -> None:
        branches: list[tuple[Node | None, Node | None]] = []
        condition = node.child_by_field_name("condition")
        branches.append((condition, node.child_by_field_name("body")))
        for clause in node.named_children:
            if clause.type == "else_if_clause":
                branches.append((clause.child_by_field_name("condition"), clause.child_by_field_name("body")))
            elif clause.type == "else_clause":
                branches.append((None, clause.child_by_field_name("body")))
        for branch_condition, body in branches:
            decided = True if branch_condition is None else _truthy(self.expr(branch_condition))
            if isinstance(decided, Unknown):
                self.taint(node, f"set under a condition corral cannot decide (line {node.start_point.row + 1})")
                return
            if decided:
                if body is not None:
                    self.statement(body)
                return

    def taint(self, node: Node, why: str) -> None:
        """Every variable and constant a block may set becomes :class:`Unknown`: whether it runs is not known."""
        line = node.start_point.row + 1
        stack = [node]
        seen = 0
        while stack and seen < MAX_STATEMENTS:
            current = stack.pop()
            seen += 1
            if current.type in ("assignment_expression", "augmented_assignment_expression"):
                left = current.child_by_field_name("left")
                while left is not None and left.type == "subscript_expression":
                    left = left.named_children[0]
                if left is not None and left.type == "variable_name":
                    self.result.variables[_name(left).lstrip("$")] = Unknown(line, why)
            elif current.type == "function_call_expression" and self.function_name(current) == "define":
                args = self.arguments(current)
                name = self.expr(args[0]) if args else None
                if isinstance(name, str) and name not in self.result.constants:
                    self.result.constants[name] = Unknown(line, why)
            elif current.type == "return_statement" and self.file == self.result.path and not self.result.has_return:
                self.result.returned = Unknown(line, why)
            stack.extend(current.named_children)

    def class_declaration(self, node: Node) -> None:
        name_node = node.child_by_field_name("name")
        body = node.child_by_field_name("body")
        if name_node is None or body is None:
            return
        properties = self.result.classes.setdefault(_name(name_node), {})
        for member in body.named_children:
            if member.type != "property_declaration":
                continue
            for element in member.named_children:
                if element.type != "property_element":
                    continue
                variable = element.child_by_field_name("name") or element.named_children[0]
                default = element.child_by_field_name("default_value")
                properties[_name(variable).lstrip("$")] = self.expr(default) if default is not None else None

    def include(self, node: Node) -> None:
        if not node.named_children:
            return
        target = self.expr(node.named_children[0])
        if not isinstance(target, str) or not target:
            return
        path = Path(target) if target.startswith("/") else self.file.parent / target
        if path in self.included or len(self.included) >= MAX_INCLUDES or not self.host.may_include(path):
            return
        self.included.add(path)
        try:
            source = self.host.read(path)
        except Refused as refused:
            self.result.problems.append(str(refused))
            return
        except FileNotFoundError:
            return
        root, error = parse(source)
        if error:
            self.result.problems.append(f"{path}: {error}")
            return
        self.run_file(path, root)

    def maybe_dotenv(self, node: Node) -> None:
        """``Dotenv\\Dotenv::createUnsafeImmutable(__DIR__)->load()`` (vlucas/phpdotenv, as Bedrock and
        drupal-project use it), also through a variable (``$dotenv = ...; $dotenv->load();``): from here on
        ``$_ENV``/``$_SERVER`` (and ``getenv()`` for the *Unsafe* ones and phpdotenv before 5, ``new Dotenv(...)``)
        see the folder's ``.env``."""
        method = node.child_by_field_name("name")
        inner = node.child_by_field_name("object")
        if method is None or inner is None or _name(method) not in ("load", "safeLoad", "overload"):
            return
        while inner.type == "parenthesized_expression" and inner.named_children:
            inner = inner.named_children[0]
        if inner.type == "variable_name":
            pending = self.dotenv_pending.get(_name(inner).lstrip("$"))
            if pending is None:
                return
            inner = pending
        unsafe = self.dotenv_creation(inner)
        if unsafe is None:
            return
        args = self.arguments(inner)
        folder = self.expr(args[0]) if args else None
        if not isinstance(folder, str) or self.host.load_dotenv is None:
            return
        try:
            values = self.host.load_dotenv(Path(folder))
        except Refused as refused:
            self.result.problems.append(str(refused))
            return
        source = f"{Path(folder) / '.env'}"
        superglobals = {**(self.environment.superglobals or {}), **values}
        getenv = {**(self.environment.getenv or {}), **values} if unsafe else self.environment.getenv
        self.environment = Environment(getenv=getenv, superglobals=superglobals, source=source)

    @staticmethod
    def dotenv_creation(node: Node) -> bool | None:
        """Whether ``node`` creates a phpdotenv loader that also sets ``getenv()`` (``None``: not one)."""
        if node.type == "scoped_call_expression":
            scope, creator = node.child_by_field_name("scope"), node.child_by_field_name("name")
            if scope is None or creator is None or not _name(scope).endswith("Dotenv"):
                return None
            return "Unsafe" in _name(creator)
        if node.type == "object_creation_expression":
            classes = [child for child in node.named_children if child.type != "arguments"]
            return True if any(_name(child).endswith("Dotenv") for child in classes) else None
        return None

    # -- expressions ----------------------------------------------------------------------------------------------

    def expr(self, node: Node, depth: int = 0) -> Value:
        line = node.start_point.row + 1
        if depth > MAX_DEPTH:
            why = f"nested deeper than {MAX_DEPTH}"
            if not any(why in problem for problem in self.result.problems):
                self.result.problems.append(f"{self.file}:{line}: {why}: the rest is not read")
            return Unknown(line, why)
        kind = node.type
        handler = getattr(self, "expr_" + kind, None)
        if handler is None:
            return Unknown(line, f"`{kind.replace('_', ' ')}` is not evaluated")
        value: Value = handler(node, depth + 1)
        return value

    def expr_parenthesized_expression(self, node: Node, depth: int) -> Value:
        return self.expr(node.named_children[0], depth) if node.named_children else None

    def expr_argument(self, node: Node, depth: int) -> Value:
        return self.expr(node.named_children[-1], depth)

    def expr_string(self, node: Node, depth: int) -> Value:
        text = (node.text or b"").decode("utf-8", "surrogateescape")
        if text[:1] in "bB":
            text = text[1:]
        return _unescape_single(text[1:-1]) if text.startswith("'") else _unescape_double(text[1:-1])

    def expr_encapsed_string(self, node: Node, depth: int) -> Value:
        """A double-quoted string; a plain ``$var`` (or ``{$var}``) in it is resolved from the file's variables."""
        parts: list[str] = []
        length = 0
        for child in node.named_children:
            text = (child.text or b"").decode("utf-8", "surrogateescape")
            if child.type == "string_content":
                parts.append(text)
            elif child.type == "escape_sequence":
                parts.append(_unescape_double(text))
            else:
                simple = child.type == "variable_name" or (
                    child.type == "dynamic_variable_name" and [c.type for c in child.named_children] == ["name"])
                name = _name(child).strip("${}")
                value = to_string(self.result.variables.get(name, Unknown(
                    child.start_point.row + 1, f"variable `${name}` is not set in the file"))) if simple else Unknown(
                    child.start_point.row + 1, "an expression inside a string")
                if isinstance(value, Unknown):
                    return value
                parts.append(value)
                length += len(value)
                if length > MAX_STRING:
                    return Unknown(child.start_point.row + 1, f"a string longer than {MAX_STRING} characters")
        return self.build(parts, node)

    def build(self, parts: list[str], node: Node) -> Value:
        """``parts`` joined, unless the file would then have built more than :data:`MAX_BUILT` characters."""
        self.built += sum(len(part) for part in parts)
        if self.built > MAX_BUILT:
            return Unknown(node.start_point.row + 1, f"the file builds more than {MAX_BUILT} characters of strings")
        return "".join(parts)

    def expr_nowdoc(self, node: Node, depth: int) -> Value:
        body = next((child for child in node.named_children if child.type == "nowdoc_body"), None)
        if body is None:
            return ""
        text = "".join((part.text or b"").decode("utf-8", "surrogateescape") for part in body.named_children)
        return text.removesuffix("\n")

    def expr_integer(self, node: Node, depth: int) -> Value:
        try:
            return _php_int(_name(node))
        except ValueError:
            return Unknown(node.start_point.row + 1, "an integer corral cannot read")

    def expr_float(self, node: Node, depth: int) -> Value:
        try:
            return float(_name(node).replace("_", ""))
        except ValueError:
            return Unknown(node.start_point.row + 1, "a number corral cannot read")

    def expr_boolean(self, node: Node, depth: int) -> Value:
        return _name(node).lower() == "true"

    def expr_null(self, node: Node, depth: int) -> Value:
        return None

    def expr_name(self, node: Node, depth: int) -> Value:
        name = _name(node)
        line = node.start_point.row + 1
        magic: dict[str, Value] = {
            "__DIR__": str(self.file.parent),
            "__FILE__": str(self.file),
            "__LINE__": line,
            "DIRECTORY_SEPARATOR": "/",
            "PHP_EOL": "\n",
        }
        if name in magic:
            return magic[name]
        if name.lower() in ("true", "false"):
            return name.lower() == "true"
        if name.lower() == "null":
            return None
        if name in self.result.constants:
            return self.result.constants[name]
        return Unknown(line, f"constant `{name}` is not defined in the file")

    def expr_qualified_name(self, node: Node, depth: int) -> Value:
        return self.expr_name(node, depth)

    def expr_variable_name(self, node: Node, depth: int) -> Value:
        name = _name(node).lstrip("$")
        if name in self.result.variables:
            return self.result.variables[name]
        return Unknown(node.start_point.row + 1, f"variable `${name}` is not set in the file", unset=True)

    def expr_array_creation_expression(self, node: Node, depth: int) -> Value:
        array: dict[int | str, Value] = {}
        next_index = 0
        for element in node.named_children:
            if element.type != "array_element_initializer":
                continue
            parts = element.named_children
            line = element.start_point.row + 1
            if len(parts) == 1 and parts[0].type == "variadic_unpacking":
                return Unknown(line, "an array unpacked with `...`")
            if len(parts) == 2:
                key = _array_key(self.expr(parts[0], depth))
                if isinstance(key, Unknown):
                    return Unknown(line, f"an array key: {key.why}")
            elif len(parts) == 1:
                key = next_index
            else:
                return Unknown(line, "an array element corral cannot read")
            array[key] = self.expr(parts[-1], depth)
            if isinstance(key, int) and key >= next_index:
                next_index = key + 1
        return array

    def expr_subscript_expression(self, node: Node, depth: int) -> Value:
        line = node.start_point.row + 1
        if len(node.named_children) < 2:
            return Unknown(line, "`[]` read")
        base_node, index_node = node.named_children[0], node.named_children[1]
        index = self.expr(index_node, depth)
        if base_node.type == "variable_name" and _name(base_node).lstrip("$") in ("_ENV", "_SERVER", "GLOBALS"):
            superglobal = _name(base_node).lstrip("$")
            if superglobal == "GLOBALS":
                if isinstance(index, str) and index in self.result.variables:
                    return self.result.variables[index]
                return Unknown(line, "`$GLOBALS` read")
            if not isinstance(index, str):
                return Unknown(line, f"`${superglobal}` read with a key corral cannot know")
            return self.environment_value(self.environment.superglobals, f"${superglobal}['{shown(index)}']", index,
                                          line)
        base = self.expr(base_node, depth)
        if isinstance(base, Unknown):
            return base
        key = _array_key(index)
        if isinstance(key, Unknown):
            return key
        if isinstance(base, dict):
            return base.get(key)
        if isinstance(base, str) and isinstance(key, int):
            return base[key] if -len(base) <= key < len(base) else ""
        return None

    def environment_value(self, values: Mapping[str, str] | None, shown: str, key: str, line: int) -> Value:
        if values is not None and key in values:
            return values[key]
        if values is None:
            return Unknown(line, f"`{shown[:80]}` comes from the PHP process's environment, which corral cannot see")
        return Unknown(line, f"`{shown[:80]}` is not set in {self.environment.source}", unset=True)

    def expr_binary_expression(self, node: Node, depth: int) -> Value:
        operator_node = node.child_by_field_name("operator")
        left_node, right_node = node.child_by_field_name("left"), node.child_by_field_name("right")
        if operator_node is None or left_node is None or right_node is None:
            return Unknown(node.start_point.row + 1, "an expression corral cannot read")
        operator = operator_node.type.lower()
        line = node.start_point.row + 1
        if operator == "??":
            left = self.expr(left_node, depth)
            if isinstance(left, Unknown) and not left.unset:
                return left
            return self.expr(right_node, depth) if left is None or isinstance(left, Unknown) else left
        left, right = self.expr(left_node, depth), self.expr(right_node, depth)
        if operator == ".":
            return self.concat(left, right, node)
        if operator in ("&&", "and", "||", "or"):
            return self.logic(operator, left, right)
        if isinstance(left, Unknown):
            return left
        if isinstance(right, Unknown):
            return right
        if operator in ("===", "!==") and not isinstance(left, dict) and not isinstance(right, dict):
            same = type(left) is type(right) and left == right
            return same if operator == "===" else not same
        if operator in ("==", "!=", "<>") and isinstance(left, str) and isinstance(right, str):
            return (left == right) == (operator == "==")
        numbers = (int, float)
        if isinstance(left, numbers) and isinstance(right, numbers) and not isinstance(left, bool):
            if operator == "+":
                return left + right
            if operator == "-":
                return left - right
            if operator == "*":
                return left * right
        return Unknown(line, f"operator `{operator}` is not evaluated")

    @staticmethod
    def logic(operator: str, left: Value, right: Value) -> Value:
        left_true, right_true = _truthy(left), _truthy(right)
        if operator in ("&&", "and"):
            if left_true is False or right_true is False:
                return False
        elif left_true is True or right_true is True:
            return True
        if isinstance(left_true, Unknown):
            return left_true
        if isinstance(right_true, Unknown):
            return right_true
        return operator in ("&&", "and")

    def concat(self, left: Value, right: Value, node: Node) -> Value:
        left_text, right_text = to_string(left), to_string(right)
        for part in (left_text, right_text):
            if isinstance(part, Unknown):
                return part if part.line else Unknown(node.start_point.row + 1, part.why)
        if len(left_text) + len(right_text) > MAX_STRING:  # type: ignore[arg-type]
            return Unknown(node.start_point.row + 1, f"a string longer than {MAX_STRING} characters")
        return self.build([left_text, right_text], node)  # type: ignore[list-item]

    def expr_unary_op_expression(self, node: Node, depth: int) -> Value:
        operator = node.child_by_field_name("operator")
        argument = node.child_by_field_name("argument") or node.named_children[-1]
        value = self.expr(argument, depth)
        symbol = operator.type if operator is not None else _name(node)[:1]
        if symbol == "!":
            truth = _truthy(value)
            return truth if isinstance(truth, Unknown) else not truth
        if isinstance(value, (int, float)) and not isinstance(value, bool) and symbol in ("-", "+"):
            return -value if symbol == "-" else value
        return value if isinstance(value, Unknown) else Unknown(node.start_point.row + 1, f"operator `{symbol}`")

    def expr_conditional_expression(self, node: Node, depth: int) -> Value:
        parts = node.named_children
        condition = self.expr(parts[0], depth)
        truth = _truthy(condition)
        if isinstance(truth, Unknown):
            return truth
        if len(parts) == 2:  # a ?: b
            return condition if truth else self.expr(parts[1], depth)
        return self.expr(parts[1] if truth else parts[2], depth)

    def expr_cast_expression(self, node: Node, depth: int) -> Value:
        cast = _name(node.named_children[0]).lower() if node.named_children else ""
        value = self.expr(node.named_children[-1], depth)
        if isinstance(value, (Unknown, dict)):
            return value
        if cast == "string":
            return to_string(value)
        if cast in ("int", "integer") and isinstance(value, (int, float, bool)):
            return int(value)
        if cast in ("int", "integer") and isinstance(value, str):
            match = re.match(r"\s*[+-]?\d+", value)
            return int(match.group(0)) if match else 0
        if cast in ("bool", "boolean"):
            return _truthy(value)
        return Unknown(node.start_point.row + 1, f"cast `({cast})`")

    def expr_function_call_expression(self, node: Node, depth: int) -> Value:
        name = self.function_name(node)
        line = node.start_point.row + 1
        args = self.arguments(node)
        if name == "env" and args:
            return self.env_helper(args, depth, line)
        if name in ("isset", "empty") and args:
            return self.isset_or_empty(name, args, depth)
        values = [self.expr(arg, depth) for arg in args] if name in _PURE_FUNCTIONS else []
        if any(isinstance(value, Unknown) for value in values):
            return next(value for value in values if isinstance(value, Unknown))
        if name == "getenv" and values and isinstance(values[0], str):
            return self.environment_value(self.environment.getenv, f"getenv('{shown(values[0])}')", values[0], line)
        if name in ("defined", "constant") and values and isinstance(values[0], str):
            if values[0] not in self.result.constants:
                return False if name == "defined" else Unknown(line, f"constant `{shown(values[0])}` is not defined")
            value = self.result.constants[values[0]]
            return value if name == "constant" or isinstance(value, Unknown) else True
        if name == "dirname" and values and isinstance(values[0], str):
            levels = values[1] if len(values) > 1 and isinstance(values[1], int) else 1
            path = values[0]
            for _ in range(max(1, min(levels, 64))):
                path = str(Path(path).parent)
            return path
        if name in ("file_exists", "is_file", "is_readable") and values and isinstance(values[0], str):
            exists = self.host.exists(Path(values[0]) if values[0].startswith("/") else self.file.parent / values[0])
            return Unknown(line, f"`{name}()` outside the project") if exists is None else exists
        return Unknown(line, f"calls `{shown(name)}()`, which corral does not run")

    def isset_or_empty(self, name: str, args: list[Node], depth: int) -> Value:
        """``isset($a, $b['k'])`` (all set and not null) and ``empty($a)`` (unset or falsy)."""
        values = [self.expr(arg, depth) for arg in args]
        if name == "empty":
            value = values[0]
            if isinstance(value, Unknown):
                return True if value.unset else value
            truth = _truthy(value)
            return truth if isinstance(truth, Unknown) else not truth
        for value in values:
            if isinstance(value, Unknown) and not value.unset:
                return value
        return all(value is not None and not isinstance(value, Unknown) for value in values)

    def env_helper(self, args: list[Node], depth: int, line: int) -> Value:
        """Laravel's (and oscarotero/env's) ``env('X', default)``: with a known ``.env``, a variable it does not set
        gives the default (evaluated only then), else ``null``."""
        key = self.expr(args[0], depth)
        if not isinstance(key, str):
            return key if isinstance(key, Unknown) else Unknown(line, "`env()` of a name corral cannot know")
        known = self.environment.superglobals if self.environment.superglobals is not None else self.environment.getenv
        if known is not None and key not in known:
            return self.expr(args[1], depth) if len(args) > 1 else None
        return self.environment_value(known, f"env('{shown(key)}')", key, line)

    def expr_scoped_call_expression(self, node: Node, depth: int) -> Value:
        scope = node.child_by_field_name("scope") or node.child_by_field_name("object")
        method = node.child_by_field_name("name")
        separator = "::" if node.type == "scoped_call_expression" else "->"
        called = shown(f"{_name(scope)}{separator}{_name(method)}" if scope and method else "")
        return Unknown(node.start_point.row + 1, f"calls `{called}()`, which corral does not run")

    def expr_member_call_expression(self, node: Node, depth: int) -> Value:
        return self.expr_scoped_call_expression(node, depth)

    # -- helpers --------------------------------------------------------------------------------------------------

    @staticmethod
    def function_name(node: Node) -> str:
        function = node.child_by_field_name("function")
        return _name(function).lstrip("\\").lower() if function is not None else ""

    @staticmethod
    def arguments(node: Node) -> list[Node]:
        arguments = node.child_by_field_name("arguments") or next(
            (child for child in node.named_children if child.type == "arguments"), None)
        if arguments is None:
            return []
        return [arg for arg in arguments.named_children if arg.type == "argument"]


_PURE_FUNCTIONS = frozenset(
    {"getenv", "env", "defined", "constant", "dirname", "file_exists", "is_file", "is_readable"}
)
"""Functions whose result corral computes itself (no code of the file runs); every other call is unknown."""
