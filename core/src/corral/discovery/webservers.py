"""The sites a server's nginx and Apache serve, read from their own configuration.

nginx: with root ``/`` and nginx installed, what ``nginx -T`` prints (the files nginx itself loads); otherwise
``R/etc/nginx/nginx.conf`` and what it ``include``s, parsed with crossplane (nginx's own parser library). Apache:
``R/etc/apache2/apache2.conf`` (Debian) or ``R/etc/httpd/conf/httpd.conf`` (RHEL) and their ``Include`` and
``IncludeOptional``, read by a small reader of Apache's line syntax (continuation lines, comments, quotes,
``Define``, mod_macro's ``<Macro>``/``Use``). A site file under ``sites-available`` that the configuration does
not load is a disabled site.

Nothing here runs anything but ``nginx -T``; a file is named in a problem line, its content never is.
"""

from __future__ import annotations

import glob
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import crossplane
from crossplane.errors import NgxParserBaseException

from corral.discovery import rooted
from corral.discovery.model import Site

MAX_INCLUDES = 100_000
"""The most includes one server's configuration may follow (a file read once however often it is included; an
exponential fan-out of includes is cut there)."""

MAX_STATEMENTS = 300_000
"""The most statements one server's configuration yields, includes expanded (a thousand vhosts with their snippets
are tens of thousands; a fan-out of includes of big files, millions: gigabytes)."""

MAX_DEPTH = 32
"""The deepest chain of includes followed (nginx and Apache have no limit; a deeper one is not a real server's)."""

NGINX_PREFIX = "/usr/share/nginx"
"""Where a relative nginx ``root`` starts (Debian's and RHEL's build prefix)."""

_SBIN = "/usr/sbin:/usr/local/sbin:/sbin:/usr/local/nginx/sbin"


def find_sites(root: Path = Path("/")) -> tuple[list[Site], list[str]]:
    """Every site nginx and Apache declare under ``root``, and the problems met (one line each).

    A document root served twice (port 80 and 443, two server blocks, nginx in front of Apache) is one site with
    the names merged; enabled declarations win over disabled ones.
    """
    root = Path(os.path.abspath(root))
    problems: list[str] = []
    sites: list[Site] = []
    for server, read in (("nginx", nginx_sites), ("Apache", apache_sites)):
        try:
            sites.extend(read(root, problems))
        except Exception as error:  # a bug here must not stop `corral start`'s coverage check: said, not raised
            problems.append(f"the {server} configuration under {root} could not be read: {type(error).__name__}")
    return merge_sites(sites), problems


def merge_sites(sites: list[Site]) -> list[Site]:
    """One site per document root, first declaration kept, names merged in order (a disabled one's only if no
    declaration of that root is enabled)."""
    groups: dict[Path, list[Site]] = {}
    for site in sites:
        groups.setdefault(site.document_root, []).append(site)
    merged = []
    for group in groups.values():
        serving = [site for site in group if site.enabled] or group
        names = tuple(dict.fromkeys(name for site in serving for name in site.names))
        merged.append(replace(serving[0], names=names))
    return merged


# --- nginx -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stmt:
    """One nginx directive, includes already replaced by what they include; ``file`` is the on-disk file."""

    directive: str
    args: list[str]
    line: int
    file: Path
    block: list[_Stmt] | None


def nginx_binary() -> str | None:
    """The nginx program (``/usr/sbin`` searched too: cron's PATH lacks it), or None."""
    path = os.environ.get("PATH", "") + os.pathsep + _SBIN
    return shutil.which("nginx", path=path)


def nginx_dump(problems: list[str]) -> dict[str, str] | None:
    """The files ``nginx -T`` prints, by path, first the main one; None (with a problem line) if it fails."""
    binary = nginx_binary()
    if binary is None:
        return None
    try:
        result = subprocess.run(
            [binary, "-T", "-q"], capture_output=True, stdin=subprocess.DEVNULL, timeout=60, check=False
        )
    except subprocess.TimeoutExpired:
        problems.append(f"`{binary} -T` took over 60 s: the files under /etc/nginx are read instead")
        return None
    except OSError as error:
        problems.append(f"`{binary} -T` could not run ({error.strerror}): the files under /etc/nginx are read instead")
        return None
    if result.returncode != 0:
        # nginx's own message quotes the configuration: `nginx -t` shows it to whoever asks
        problems.append(
            f"`{binary} -T` failed (exit {result.returncode}; `nginx -t` says why): "
            "the files under /etc/nginx are read instead"
        )
        return None
    files = _split_dump(result.stdout.decode("utf-8", errors="replace"))
    if not files:
        problems.append(f"`{binary} -T` printed no configuration file: the files under /etc/nginx are read instead")
        return None
    return files


_DUMP_HEADER = re.compile(r"^# configuration file (/[^\n]*):$", re.MULTILINE)


def _split_dump(text: str) -> dict[str, str]:
    files: dict[str, str] = {}
    headers = list(_DUMP_HEADER.finditer(text))
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        end = following.start() if following else len(text)
        files.setdefault(header.group(1), text[header.end() + 1 : end])
    return files


class _Reader:
    """What both servers' readers share: files under the root, each read once, include loops and limits."""

    server = ""

    def __init__(self, root: Path, problems: list[str]) -> None:
        self.root = root
        self.problems = problems
        self.reached: set[Path] = set()  # an enabled file that cannot be read is not a disabled site either
        self.texts: dict[Path, str | None] = {}
        self.includes = 0
        self.statements = 0

    def counted(self, file: Path) -> bool:
        """Count one statement; False (said once) past :data:`MAX_STATEMENTS`."""
        self.statements += 1
        if self.statements == MAX_STATEMENTS + 1:
            self.problems.append(f"{file}: more than {MAX_STATEMENTS} {self.server} statements: the rest skipped")
        return self.statements <= MAX_STATEMENTS

    def text(self, path: str, stack: tuple[Path, ...], origin: str) -> tuple[Path, str] | None:
        """The on-disk file and text of ``path`` (as the server names it), or None (and a problem line)."""
        try:
            on_disk = rooted.resolve(self.root, path)
        except OSError as error:
            self.problems.append(f"{rooted.lexical(self.root, path)}: cannot read ({error.strerror}){origin}")
            return None
        if on_disk in stack:
            self.problems.append(f"{on_disk}: include loop: included again{origin}, not followed")
            return None
        if len(stack) >= MAX_DEPTH:
            self.problems.append(f"{on_disk}: more than {MAX_DEPTH} includes deep{origin}, not followed")
            return None
        self.includes += 1
        if self.includes > MAX_INCLUDES:
            if self.includes == MAX_INCLUDES + 1:
                self.problems.append(
                    f"{on_disk}: more than {MAX_INCLUDES} {self.server} includes followed{origin}: the rest skipped"
                )
            return None
        self.reached.add(on_disk)
        if on_disk not in self.texts:
            self.texts[on_disk] = self._read(path, on_disk, origin)
        text = self.texts[on_disk]
        return None if text is None else (on_disk, text)

    def _read(self, path: str, on_disk: Path, origin: str) -> str | None:
        try:
            text = self._source(path, on_disk)
        except OSError as error:
            self.problems.append(f"{on_disk}: cannot read ({error.strerror}){origin}")
            return None
        return None if _has_nul(text, on_disk, self.problems) else text

    def _source(self, path: str, on_disk: Path) -> str:
        return rooted.read_text(on_disk)


class _NginxReader(_Reader):
    """Reads nginx configuration files under a root (or from ``nginx -T``'s dump), following includes."""

    server = "nginx"

    def __init__(self, root: Path, prefix: str, problems: list[str], dump: dict[str, str] | None = None) -> None:
        super().__init__(root, problems)
        self.prefix = prefix
        self.dump = dump or {}
        self.parsed: dict[Path, list[dict[str, Any]]] = {}

    def _source(self, path: str, on_disk: Path) -> str:
        return self.dump[path] if path in self.dump else rooted.read_text(on_disk)

    def load(self, path: str, stack: tuple[Path, ...] = (), origin: str = "") -> list[_Stmt]:
        """The statements of the file ``path`` (as nginx names it), its includes expanded."""
        found = self.text(path, stack, origin)
        if found is None:
            return []
        on_disk, text = found
        if on_disk not in self.parsed:
            self.parsed[on_disk], errors = _crossplane(text)
            for failure in errors:
                line = f":{failure['line']}" if failure.get("line") else ""
                self.problems.append(f"{on_disk}{line}: cannot parse: {failure['callback']}")
        return self._convert(self.parsed[on_disk], on_disk, (*stack, on_disk))

    def _convert(self, parsed: list[dict[str, Any]], file: Path, stack: tuple[Path, ...]) -> list[_Stmt]:
        statements: list[_Stmt] = []
        for item in parsed:
            if not self.counted(file):
                break
            directive, args, line = item["directive"], item["args"], item["line"]
            if directive == "include" and args:
                pattern = rooted.config_path(args[0], self.prefix)
                for path in rooted.expand(self.root, pattern):
                    statements.extend(self.load(path, stack, f", included from {file}:{line}"))
                continue
            block = self._convert(item["block"], file, stack) if "block" in item else None
            statements.append(_Stmt(directive, args, line, file, block))
        return statements


def _has_nul(text: str, file: Path, problems: list[str]) -> bool:
    """A NUL byte is in no configuration (and no path may hold one): the file is reported, not read."""
    if "\x00" not in text:
        return False
    problems.append(f"{file}:{text.count(chr(10), 0, text.index(chr(0))) + 1}: cannot parse: a NUL byte")
    return True


def _crossplane_error(error: Exception) -> str:
    if isinstance(error, NgxParserBaseException):
        return str(error.strerror)
    if isinstance(error, StopIteration):
        return 'unexpected end of file, expecting ";" or "}"'
    return type(error).__name__


def _crossplane(text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """crossplane's statements and errors for one file's text (crossplane reads files: a private temporary one)."""
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".conf") as file:
        file.write(text + "\n")  # crossplane drops a last token with nothing after it
        file.flush()
        payload = crossplane.parse(file.name, onerror=_crossplane_error, single=True, check_ctx=False, check_args=False)
    config = payload["config"][0]
    return config["parsed"], payload["errors"]


def nginx_sites(root: Path, problems: list[str]) -> list[Site]:
    """The servers nginx declares: from ``nginx -T`` with root ``/``, otherwise from the files."""
    dump = nginx_dump(problems) if root == Path("/") else None
    main = next(iter(dump)) if dump else "/etc/nginx/nginx.conf"
    if dump is None and not rooted.lexical(root, main).exists():
        return []
    prefix = posixpath.dirname(main)
    reader = _NginxReader(root, prefix, problems, dump)
    statements = reader.load(main)
    sites: list[Site] = []
    http_root: _Stmt | None = None
    for http in statements:
        if http.directive == "http" and http.block is not None:
            http_root = _last(http.block, "root") or http_root
            sites.extend(_nginx_servers(root, http.block, http_root, True, problems))
    available = posixpath.join(prefix, "sites-available")
    for path in _site_files(root, available):
        if _resolved(root, path) not in reader.reached:
            statements = reader.load(path)
            sites.extend(_nginx_servers(root, statements, http_root, False, problems))
    return sites


def _site_files(root: Path, folder: str) -> list[str]:
    """The files of a ``sites-available`` folder (editor backups and hidden files left out)."""
    try:
        names = sorted(os.listdir(rooted.resolve(root, folder)))
    except OSError:
        return []
    paths = [posixpath.join(folder, name) for name in names if not name.startswith(".") and not name.endswith("~")]
    return [path for path in paths if _resolved(root, path).is_file()]


def _resolved(root: Path, path: str) -> Path:
    """:func:`rooted.resolve`, a link loop giving the unresolved path (whose read then reports the loop)."""
    try:
        return rooted.resolve(root, path)
    except OSError:
        return rooted.lexical(root, path)


def _last(block: list[_Stmt], directive: str) -> _Stmt | None:
    found = [stmt for stmt in block if stmt.directive == directive and stmt.args]
    return found[-1] if found else None


def _nginx_servers(
    root: Path, block: list[_Stmt], http_root: _Stmt | None, enabled: bool, problems: list[str]
) -> Iterator[Site]:
    for server in block:
        if server.directive != "server" or server.block is None:
            continue
        names = tuple(
            dict.fromkeys(
                name for stmt in server.block if stmt.directive == "server_name" for name in stmt.args if name
            )
        )
        document_root = _last(server.block, "root")
        if document_root is None:
            for location in server.block:
                if location.directive == "location" and location.args[-1:] == ["/"] and location.block:
                    document_root = _last(location.block, "root") or document_root
        document_root = document_root or http_root
        if document_root is None:
            continue  # a redirect or a proxy: no files of its own
        value = _nginx_substitute(document_root.args[0], server.block)
        if "$" in value:
            problems.append(
                f"{document_root.file}:{document_root.line}: the root of server {' '.join(names) or '(no name)'} "
                "uses an nginx variable no `set` of the server gives: not followed"
            )
            continue
        path = rooted.config_path(value, NGINX_PREFIX)
        yield Site("nginx", names, rooted.lexical(root, path), server.file, server.line, enabled)


_NGINX_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def _nginx_substitute(value: str, server: list[_Stmt]) -> str:
    """``root $docroot;`` with the server's own ``set $docroot "/home/bitrix/www";`` (bitrixenv's way); a
    variable only a request gives (``$host``) stays."""
    variables = {
        stmt.args[0][1:]: stmt.args[1]
        for stmt in server
        if stmt.directive == "set" and len(stmt.args) == 2 and stmt.args[0].startswith("$") and "$" not in stmt.args[1]
    }
    return _NGINX_VARIABLE.sub(lambda found: variables.get(found.group(1) or found.group(2), found.group(0)), value)


# --- Apache ------------------------------------------------------------------------------------------------------

APACHE_MAIN = (("/etc/apache2/apache2.conf", "/etc/apache2"), ("/etc/httpd/conf/httpd.conf", "/etc/httpd"))
"""Apache's main file and its compiled-in ServerRoot: Debian's, then RHEL's."""


@dataclass
class _VirtualHost:
    file: Path
    line: int
    names: list[str] = field(default_factory=list)
    document_root: tuple[str, Path, int] | None = None  # value, file, line


_SECTION = re.compile(r"<\s*(/?)\s*([^\s>]+)\s*(.*?)\s*>\s*$")
_MACRO_END = re.compile(r"<\s*/\s*macro\s*>\s*$", re.IGNORECASE)
_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")


def apache_words(line: str) -> list[str]:
    """A directive line's words as Apache's ap_getword_conf splits them: quotes (``"`` or ``'``) group, a
    backslash before the quote inside them escapes it."""
    words: list[str] = []
    index, size = 0, len(line)
    while index < size:
        while index < size and line[index].isspace():
            index += 1
        if index >= size:
            break
        quote = line[index]
        if quote in "\"'":
            index += 1
            word: list[str] = []
            while index < size and line[index] != quote:
                if line[index] == "\\" and index + 1 < size and line[index + 1] == quote:
                    index += 1
                word.append(line[index])
                index += 1
            index += 1
            words.append("".join(word))
        else:
            start = index
            while index < size and not line[index].isspace():
                index += 1
            words.append(line[start:index])
    return words


def apache_lines(text: str) -> Iterator[tuple[int, str]]:
    """Logical lines with their first line's number: a line ending in a backslash goes on the next; comments
    (``#`` first) and blank lines left out."""
    pending: list[str] = []
    first = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            first = number
        if raw.endswith("\\"):
            pending.append(raw[:-1])
            continue
        pending.append(raw)
        line = " ".join(part.strip() for part in pending).strip()
        pending = []
        if line and not line.startswith("#"):
            yield first, line
    if pending:
        line = " ".join(part.strip() for part in pending).strip()
        if line and not line.startswith("#"):
            yield first, line


class _ApacheReader(_Reader):
    """Reads Apache configuration files under a root, following ``Include``/``IncludeOptional`` and ``Define``."""

    server = "Apache"

    def __init__(self, root: Path, server_root: str, problems: list[str]) -> None:
        super().__init__(root, problems)
        self.server_root = server_root
        self.variables: dict[str, str] = {}
        self.vhosts: list[_VirtualHost] = []
        self.vhost: _VirtualHost | None = None
        self.main_names: list[str] = []
        self.main_root: tuple[str, Path, int] | None = None
        self.macros: dict[str, tuple[list[str], list[tuple[int, str]]]] = {}
        self.using: set[str] = set()

    def include(self, pattern: str, optional: bool, stack: tuple[Path, ...], origin: str) -> None:
        path = rooted.config_path(pattern, self.server_root)
        for match in rooted.expand(self.root, path):
            try:
                on_disk = rooted.resolve(self.root, match)
            except OSError as error:
                self.problems.append(f"{rooted.lexical(self.root, match)}: cannot read ({error.strerror}){origin}")
                continue
            if on_disk.is_dir():
                self._include_folder(match, on_disk, stack, origin, 0)
            elif optional and not on_disk.exists() and not glob.has_magic(path):
                continue  # a dangling link a glob found is reported: Apache would not start
            else:
                self.read(match, stack, origin)

    def _include_folder(self, path: str, on_disk: Path, stack: tuple[Path, ...], origin: str, depth: int) -> None:
        """``Include FOLDER``: every file below it, in name order (a folder linked into itself stops at a depth)."""
        if depth >= MAX_DEPTH:
            self.problems.append(f"{on_disk}: more than {MAX_DEPTH} folders deep{origin}, not followed")
            return
        try:
            names = sorted(os.listdir(on_disk))
        except OSError as error:
            self.problems.append(f"{on_disk}: cannot list ({error.strerror}){origin}")
            return
        for name in names:
            child = posixpath.join(path, name)
            folder = _resolved(self.root, child)
            if folder.is_dir():
                self._include_folder(child, folder, stack, origin, depth + 1)
            else:
                self.read(child, stack, origin)

    def read(self, path: str, stack: tuple[Path, ...] = (), origin: str = "") -> None:
        """Read the file ``path`` (as Apache names it) and what it includes."""
        found = self.text(path, stack, origin)
        if found is not None:
            on_disk, text = found
            self._parse(apache_lines(text), on_disk, (*stack, on_disk))

    def _parse(self, lines: Iterable[tuple[int, str]], file: Path, stack: tuple[Path, ...]) -> None:
        sections: list[tuple[str, int]] = []
        lines = iter(lines)
        for number, line in lines:
            if not self.counted(file):
                return self._abandon(sections)
            if line.startswith("<"):
                match = _SECTION.match(line)
                if match is None:
                    self.problems.append(f"{file}:{number}: cannot parse: a section line without its closing >")
                    return self._abandon(sections)
                closing, name = match.group(1), match.group(2).lower()
                if name == "macro" and not closing:
                    if not self._macro(apache_words(match.group(3)), lines, file, number):
                        return self._abandon(sections)
                    continue
                if closing:
                    if not sections or sections[-1][0] != name:
                        opened = f"<{sections[-1][0]}> of line {sections[-1][1]}" if sections else "no section"
                        self.problems.append(f"{file}:{number}: cannot parse: </{match.group(2)}> closes {opened}")
                        return self._abandon(sections)
                    sections.pop()
                    if name == "virtualhost" and self.vhost is not None:
                        self.vhosts.append(self.vhost)
                        self.vhost = None
                    continue
                sections.append((name, number))
                if name == "virtualhost":
                    if self.vhost is not None:
                        self.problems.append(f"{file}:{number}: cannot parse: <VirtualHost> inside <VirtualHost>")
                        return self._abandon(sections)
                    self.vhost = _VirtualHost(file, number)
                continue
            words = [self._substitute(word) for word in apache_words(line)]
            self._directive(words[0].lower(), words[1:], file, number, stack)
        if sections:
            name, number = sections[-1]
            self.problems.append(f"{file}:{number}: cannot parse: <{name}> is not closed")
            self._abandon(sections)
        return None

    def _macro(self, header: list[str], lines: Iterator[tuple[int, str]], file: Path, number: int) -> bool:
        """Keep a mod_macro ``<Macro name $param...>`` body for its ``Use`` lines; False if it is not closed."""
        body: list[tuple[int, str]] = []
        for line in lines:
            if _MACRO_END.match(line[1]):
                if header:
                    self.macros[header[0].lower()] = (header[1:], body)
                return True
            body.append(line)
        self.problems.append(f"{file}:{number}: cannot parse: <Macro> is not closed")
        return False

    def _use(self, args: list[str], file: Path, number: int, stack: tuple[Path, ...]) -> None:
        """``Use name value...``: the macro's body with its parameters replaced, read as if it stood here."""
        name = args[0].lower() if args else ""
        if name not in self.macros or name in self.using:
            why = "used inside itself" if name in self.using else "no <Macro> of that name before"
            self.problems.append(f"{file}:{number}: cannot expand `Use {name}`: {why}")
            return
        params, body = self.macros[name]
        values = dict(zip(params, args[1:], strict=False))
        pattern = re.compile("|".join(re.escape(param) for param in sorted(values, key=len, reverse=True)))

        def expand(line: str) -> str:
            return pattern.sub(lambda found: values[found.group(0)], line) if values else line

        self.using.add(name)
        try:
            self._parse(((number, expand(line)) for _, line in body), file, stack)
        finally:
            self.using.discard(name)

    def _abandon(self, sections: list[tuple[str, int]]) -> None:
        """A file stopped at a syntax error: a virtual host it opened and did not close is dropped."""
        if any(name == "virtualhost" for name, _ in sections):
            self.vhost = None

    def _substitute(self, word: str) -> str:
        return _VARIABLE.sub(lambda found: self.variables.get(found.group(1), found.group(0)), word)

    def _directive(self, name: str, args: list[str], file: Path, number: int, stack: tuple[Path, ...]) -> None:
        if name == "define" and args:
            self.variables[args[0]] = args[1] if len(args) > 1 else ""
        elif name == "undefine" and args:
            self.variables.pop(args[0], None)
        elif name == "serverroot" and args:
            self.server_root = posixpath.normpath(args[0])
        elif name == "use":
            self._use(args, file, number, stack)
        elif name in ("include", "includeoptional") and args:
            self.include(args[0], name == "includeoptional", stack, f", included from {file}:{number}")
        elif name == "servername" and args:
            (self.vhost.names if self.vhost else self.main_names).insert(0, _host(args[0]))
        elif name == "serveralias":
            (self.vhost.names if self.vhost else self.main_names).extend(args)
        elif name == "documentroot" and args:
            if self.vhost is not None:
                self.vhost.document_root = (args[0], file, number)
            else:
                self.main_root = (args[0], file, number)

    def sites(self, vhosts: list[_VirtualHost], enabled: bool) -> Iterator[Site]:
        for vhost in vhosts:
            document_root = vhost.document_root or self.main_root
            if document_root is None:
                continue  # a proxy or a redirect: no files of its own
            yield from self._site(vhost.names, document_root, vhost.file, vhost.line, enabled)

    def main_site(self) -> Iterator[Site]:
        """The main server, which serves only when no virtual host is declared (RHEL's stock httpd.conf)."""
        if self.main_root is not None and not self.vhosts:
            _, file, line = self.main_root
            yield from self._site(self.main_names, self.main_root, file, line, True)

    def _site(
        self, names: list[str], document_root: tuple[str, Path, int], file: Path, line: int, enabled: bool
    ) -> Iterator[Site]:
        value, root_file, root_line = document_root
        if "${" in value:
            self.problems.append(
                f"{root_file}:{root_line}: the DocumentRoot of {' '.join(names) or '(no name)'} uses a variable "
                "no Define sets: not followed"
            )
            return
        path = rooted.config_path(value, self.server_root)
        yield Site("apache", tuple(dict.fromkeys(names)), rooted.lexical(self.root, path), file, line, enabled)


def _host(server_name: str) -> str:
    """``ServerName [scheme://]name[:port]`` -> the name."""
    name = server_name.split("://", 1)[-1]
    if name.startswith("["):
        return name.split("]", 1)[0] + "]"
    return name.rsplit(":", 1)[0] if ":" in name else name


def apache_sites(root: Path, problems: list[str]) -> list[Site]:
    """The virtual hosts Apache declares under ``root`` (Debian's layout and RHEL's)."""
    sites: list[Site] = []
    for main, server_root in APACHE_MAIN:
        if not rooted.lexical(root, main).exists():
            continue
        reader = _ApacheReader(root, server_root, problems)
        reader.read(main)
        sites.extend(reader.sites(reader.vhosts, True))
        sites.extend(reader.main_site())
        for path in _site_files(root, posixpath.join(reader.server_root, "sites-available")):
            if _resolved(root, path) in reader.reached:
                continue
            reader.vhosts, reader.vhost = [], None
            reader.read(path)
            sites.extend(reader.sites(reader.vhosts, False))
    return sites
