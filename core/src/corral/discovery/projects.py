"""Recognise the project behind a document root and read its database settings the way the application does.

The kind is told by the project's own files, looked for in the document root and up to two folders above it
(Laravel and Symfony serve ``public/``, a Composer-built Drupal ``web/``), never above the filesystem root given,
a folder owned by another user, or a shared parent such as ``/var/www``. Settings are read without running anything:
PHP through :mod:`.php`, ``.env`` files through python-dotenv's parser, URLs through :mod:`urllib.parse`.

The files belong to site owners corral does not trust: each is opened without following links (a link that leads
out of the project is refused and said so), only if it is a regular file of at most 1 MiB, and a problem line names
the file, the line where known and the key, never a value (a password may be in it).

Hosts and ports come out as the client library would connect: MySQL's ``localhost`` is the default socket (``port``
``None``), a TCP host without a port gets the engine's default (3306, 5432), a socket path is ``socket`` with
``host`` ``localhost``.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from dotenv.parser import parse_stream

from corral.discovery import rooted
from corral.discovery.model import Database, Project
from corral.discovery.php import Environment, Host, PhpFile, Refused, Unknown, Value, evaluate

MAX_BYTES = 1 << 20
"""The largest settings file read (1 MiB): a real one is a few KiB."""
LEVELS = 2
"""How many folders above the document root are looked at."""
MAX_PROBLEMS = 20
"""The most problem lines one project says (then how many more): its owner must not fill every run's log."""
MAX_DATABASES = 100
"""The most databases one project names (a real one names one to a few; each is a coverage line when missed)."""
MAX_DRUPAL_SITES = 1000
"""The most ``sites/*/settings.php`` of one Drupal read (a multisite has dozens; a second each 1,000)."""
SHARED_PARENTS = ("var/www", "var/www/vhosts", "srv", "srv/www", "home", "usr/share/nginx", "var/lib")
"""Folders (under the filesystem root) that hold many projects: never taken as, or looked above for, a project."""

EXCLUDES: dict[str, tuple[str, ...]] = {
    # The article's Bitrix list, plus the resized-image cache Bitrix rebuilds on demand (upload/resize_cache).
    "bitrix": ("bitrix/cache", "bitrix/managed_cache", "bitrix/stack_cache", "bitrix/backup", "upload/resize_cache"),
    # Page-cache plugins (WP Super Cache, W3 Total Cache) write wp-content/cache; core unpacks updates in upgrade/.
    "wordpress": ("wp-content/cache", "wp-content/upgrade"),
    # Laravel's own generated files (`php artisan optimize:clear` empties them); storage/logs is kept on purpose.
    "laravel": (
        "storage/framework/cache",
        "storage/framework/sessions",
        "storage/framework/views",
        "bootstrap/cache",
    ),
    # Symfony's compiled container and caches (`bin/console cache:clear`).
    "symfony": ("var/cache",),
    # Drupal's aggregated CSS/JS and compiled Twig (public://css, public://js, public://php), rebuilt on demand;
    # given relative to the Drupal root and prefixed with the document root's folder when that is below the project.
    "drupal": ("sites/*/files/css", "sites/*/files/js", "sites/*/files/php"),
    # Joomla's cache folders and its tmp_path (System - Clear Cache empties them).
    "joomla": ("cache", "administrator/cache", "tmp"),
}
"""Each kind's cache folders, relative to the project root: what the application rebuilds by itself, so that a
backup without them restores a working site. Where each list comes from is said beside it: the article's Bitrix
list, and for the others the folders their own clear-cache command empties."""

MYSQL_SCHEMES = {"mysql": "mysql", "mysql2": "mysql", "mysqli": "mysql", "pdo-mysql": "mysql", "mariadb": "mysql"}
POSTGRESQL_SCHEMES = {
    "postgresql": "postgresql", "postgres": "postgresql", "pgsql": "postgresql", "pdo-pgsql": "postgresql"
}
ENGINES = {**MYSQL_SCHEMES, **POSTGRESQL_SCHEMES, "pdomysql": "mysql"}
DEFAULT_PORTS = {"mysql": 3306, "postgresql": 5432}


# -- reading files confined to the project ------------------------------------------------------------------------


def _open_without_links(real: str) -> int:
    """Open an absolute, already resolved path one component at a time, refusing any link: a folder swapped for a
    link after ``realpath`` fails here instead of being followed. Non-blocking, so a FIFO cannot hang the open."""
    parts = Path(real).parts
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for position, part in enumerate(parts[1:], start=2):
            last = position == len(parts)
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_NONBLOCK if last else os.O_DIRECTORY)
            new = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = new
        return fd
    except BaseException:
        os.close(fd)
        raise


@dataclass
class Files:
    """The project's files as corral may read them: below ``root`` only, regular files up to :data:`MAX_BYTES`.

    Paths are on-disk paths under ``fs_root`` (``corral discover --root``); a link is followed as the server
    would, under ``fs_root`` (:func:`corral.discovery.rooted.resolve`: an absolute target means ``fs_root/target``,
    ``..`` stops there), so nothing outside ``fs_root`` is ever looked at. :meth:`read` raises
    :class:`~corral.discovery.php.Refused` with a line naming the file."""

    root: Path
    fs_root: Path = Path("/")
    outer: Path | None = None
    """The site's own folder (the highest folder discovery looked at, never a shared one such as ``/var/www``): a
    link out of the project into it is read, and said in :attr:`notes` (a Deployer-style ``current/.env`` pointing
    at ``shared/.env``, which a backup of the project root does not hold)."""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.real_fs_root = Path(os.path.realpath(self.fs_root))
        self.real_root = self.resolve(self.root)
        self.real_outer = self.resolve(self.outer) if self.outer is not None else self.real_root

    def resolve(self, path: Path) -> Path:
        """Where ``path`` leads, every link followed under ``fs_root``."""
        try:
            relative = path.relative_to(self.fs_root)
        except ValueError:
            return Path(os.path.realpath(path))
        try:
            return rooted.resolve(self.real_fs_root, "/" + relative.as_posix())
        except OSError:  # a link loop: lead nowhere
            return self.real_fs_root / ".corral-link-loop" / relative

    def inside(self, path: Path, folder: Path | None = None) -> bool:
        """Whether ``path`` leads inside the project (or inside ``folder``, resolved)."""
        real, limit = self.resolve(path), folder or self.real_root
        return real == limit or limit in real.parents

    def lexists(self, path: Path) -> bool:
        """Whether the entry exists (a dangling link does), its folders followed under ``fs_root``."""
        return os.path.lexists(self.resolve(path.parent) / path.name)

    def is_dir(self, path: Path) -> bool:
        return os.path.isdir(self.resolve(path))

    def read(self, path: Path) -> bytes:
        if not self.lexists(path):
            raise FileNotFoundError(path)
        real = self.resolve(path)
        if not self.inside(path):
            if not self.inside(path, self.real_outer):
                raise Refused(f"{path}: a link out of the project {self.root}: not read")
            note = f"{path}: a link out of the project to {real}: read, but a backup of {self.root} does not hold it"
            if note not in self.notes:
                self.notes.append(note)
        if not os.path.lexists(real):
            raise FileNotFoundError(path)
        try:
            fd = _open_without_links(str(real))
        except OSError as error:
            raise Refused(f"{path}: cannot be opened ({error.strerror}): not read") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise Refused(f"{path}: not a regular file (a FIFO, socket or device): not read")
            if info.st_size > MAX_BYTES:
                raise Refused(f"{path}: larger than {MAX_BYTES // 1024} KiB: not read")
            with os.fdopen(os.dup(fd), "rb") as stream:
                data = stream.read(MAX_BYTES + 1)
            if len(data) > MAX_BYTES:
                raise Refused(f"{path}: larger than {MAX_BYTES // 1024} KiB: not read")
            return data
        except OSError as error:
            raise Refused(f"{path}: cannot be read ({error.strerror}): not read") from None
        finally:
            os.close(fd)

    def exists(self, path: Path) -> bool | None:
        """``file_exists()`` for the evaluator: known inside the project only."""
        return os.path.exists(self.resolve(path)) if self.inside(path) else None


MAX_ENV_LINES = 10_000
"""How many ``.env`` entries are read (a real one has dozens); python-dotenv takes ~30 µs an entry."""


MAX_ENV_CHARS = 4 * MAX_BYTES
"""The most characters a ``.env`` file's values hold together once ``${...}`` is resolved (``K2=${K1}${K1}`` doubles
at each line)."""


def interpolate(value: str, values: Mapping[str, str], limit: int = MAX_ENV_CHARS) -> str:
    """``${NAME}`` and ``${NAME:-default}`` as python-dotenv resolves them, in one pass (its regular expression
    takes quadratic time on a value of many unclosed ``${``: hours for 1 MiB). Raises ValueError past ``limit``
    characters."""
    out: list[str] = []
    length = 0
    position = 0
    end = 0  # the next "}" after the current "${", found again only once passed (linear time)
    while True:
        if length > limit:
            raise ValueError(f"longer than {limit} characters")
        start = value.find("${", position)
        if start >= 0 and end < start + 2:
            end = value.find("}", start + 2)
        if start < 0 or end < 0:
            out.append(value[position:])
            if length + len(value) - position > limit:
                raise ValueError(f"longer than {limit} characters")
            return "".join(out)
        colon = value.find(":", start + 2, end)
        if colon >= 0 and not value.startswith(":-", colon):  # not a variable: left as written, as python-dotenv
            out.append(value[position : start + 2])
            length += start + 2 - position
            position = start + 2
            continue
        name = value[start + 2 : colon if colon >= 0 else end]
        default = value[colon + 2 : end] if colon >= 0 else ""
        out.append(value[position:start])
        out.append(values.get(name, default))
        length += start - position + len(out[-1])
        position = end + 1


def read_env(path: Path, files: Files, problems: list[str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A ``.env`` file's variables (python-dotenv's parser: quotes, ``export``, comments), ``${VAR}`` resolved from
    ``base`` and the lines above only (never from corral's own environment). Missing: empty; refused, or lines
    that do not parse: one problem line (file and first such line, no content)."""
    try:
        text = files.read(path).decode("utf-8", "replace")
    except FileNotFoundError:
        return {}
    except Refused as refused:
        problems.append(str(refused))
        return {}
    values: dict[str, str] = dict(base or {})
    own: dict[str, str] = {}
    bad: list[int] = []
    budget = MAX_ENV_CHARS
    for count, binding in enumerate(parse_stream(io.StringIO(text))):
        if count >= MAX_ENV_LINES:
            problems.append(f"{path}: more than {MAX_ENV_LINES} entries: the rest is not read")
            break
        if binding.error:
            bad.append(binding.original.line)
        elif binding.key is not None and binding.value is not None:
            try:
                values[binding.key] = own[binding.key] = interpolate(binding.value, values, budget)
            except ValueError:
                problems.append(f"{path}: its values grow beyond {MAX_ENV_CHARS >> 20} MiB with `${{...}}`: the rest "
                                "is not read")
                break
            budget -= len(own[binding.key])
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        problems.append(f"{path}:{bad[0]}: not a `KEY=value` line{more}: ignored")
    return own


# -- turning settings into Database -------------------------------------------------------------------------------


@dataclass
class _Reading:
    """What reading one project gathers."""

    files: Files
    databases: list[Database] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def php(
        self,
        path: Path,
        environment: Environment | None = None,
        variables: Mapping[str, Value] | None = None,
        may_include: Callable[[Path], bool] = lambda path: False,
    ) -> PhpFile | None:
        """Evaluate a PHP settings file; ``None`` (with the problem said) if it cannot be read or parsed."""

        def load_dotenv(folder: Path) -> dict[str, str]:
            return read_env(folder / ".env", self.files, self.problems)

        host = Host(read=self.files.read, may_include=may_include, exists=self.files.exists, load_dotenv=load_dotenv)
        try:
            result = evaluate(path, host, environment, variables)
        except FileNotFoundError:
            return None
        except Refused as refused:
            self.problems.append(str(refused))
            return None
        self.problems.extend(result.problems)
        if result.error:
            self.problems.append(f"{path}: {result.error}: its settings are not read")
            return None
        return result

    def known(self, value: Value, path: Path, key: str, *, optional: bool = False) -> str | None:
        """A setting as text, or ``None`` with a problem line when it is unknown (or missing and needed)."""
        if isinstance(value, Unknown):
            self.problems.append(f"{path}:{value.line}: `{key}`: {value.why}: not guessed")
            return None
        if value is None or value is False:
            if not optional:
                self.problems.append(f"{path}: `{key}` is not set")
            return None
        if isinstance(value, dict):
            self.problems.append(f"{path}: `{key}` is an array, not a setting")
            return None
        return str(value) if value is not True else "1"

    def add(
        self,
        path: Path,
        engine: str,
        keys: Mapping[str, str],
        values: Mapping[str, Value],
        *,
        host_has_port: bool = False,
    ) -> None:
        """Add a database from settings: ``keys`` maps ``name``, ``host``, ``port``, ``socket``, ``user``,
        ``password`` to the file's own key names (shown in problems). ``host_has_port``: ``host:port`` and
        ``host:/socket`` forms (WordPress, Bitrix, Joomla)."""
        text = {
            part: self.known(values.get(key), path, key, optional=part in ("port", "socket", "password", "host"))
            for part, key in keys.items()
        }
        if any(isinstance(values.get(key), Unknown) for part, key in keys.items() if part in ("name", "host")):
            return
        name = text.get("name")
        if not name:
            return
        host, port, socket = text.get("host") or "localhost", text.get("port"), text.get("socket")
        if host_has_port:
            host, parsed_port, parsed_socket = split_host(host)
            port, socket = port or parsed_port, socket or parsed_socket
        password = values.get(keys.get("password", ""))
        self.database(path, engine, name, host, port, socket, text.get("user"),
                      None if isinstance(password, Unknown) else text.get("password") or "", keys.get("port", "port"))

    def database(
        self,
        path: Path,
        engine: str,
        name: str,
        host: str | None,
        port: str | int | None,
        socket: str | None,
        user: str | None,
        password: str | None,
        port_key: str = "port",
    ) -> None:
        """Normalise as the client library connects and add (see the module docstring)."""
        if len(self.databases) >= MAX_DATABASES:
            problem = f"{path}: more than {MAX_DATABASES} databases: the others are not added"
            if problem not in self.problems:
                self.problems.append(problem)
            return
        if any(value and not value.isprintable() for value in (name, host, socket, user)):
            self.problems.append(f"{path}: a database name, host, socket or user holds a control character: "
                                 "not added")
            return
        number: int | None = None
        if port not in (None, ""):
            try:
                number = int(port)
            except ValueError:
                self.problems.append(f"{path}: `{port_key}` is not a port number: the database is not added")
                return
            if not 0 < number < 65536:
                self.problems.append(f"{path}: `{port_key}` is not a port number: the database is not added")
                return
        host = host or "localhost"
        if host.startswith("/"):
            host, socket = "localhost", socket or host
        if engine == "mysql" and host == "localhost":
            number = None
        elif number is None:
            number = DEFAULT_PORTS[engine]
        self.databases.append(
            Database(engine=engine, name=name, host=host, port=number, socket=socket or None, user=user or None,
                     password=password, read_from=path)
        )

    def url(self, path: Path, key: str, url: str) -> None:
        """A database URL (Doctrine's ``DATABASE_URL``, Laravel's ``DB_URL``): user and password percent-decoded;
        ``?unix_socket=`` (MySQL) and ``?host=/path`` (PostgreSQL) give a socket. SQLite is a file, no server."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            self.problems.append(f"{path}: `{key}` is not a database URL: not read")
            return
        scheme = parts.scheme.lower().replace("_", "-")
        if scheme.startswith("sqlite"):
            return
        engine = ENGINES.get(scheme)
        if engine is None:
            self.problems.append(f"{path}: `{key}` names a database engine corral does not dump: not added")
            return
        name = unquote(parts.path.lstrip("/"))
        if not name:
            self.problems.append(f"{path}: `{key}` names no database: not added")
            return
        query = parse_qs(parts.query)
        socket = query["unix_socket"][0] if query.get("unix_socket") else None
        host = unquote(parts.hostname or "") or (query.get("host") or [""])[0]
        user = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        self.database(path, engine, name, host, port, socket, user, password, key)


def split_host(host: str) -> tuple[str, str | None, str | None]:
    """``host``, ``host:port``, ``host:/socket``, ``[::1]:port`` (as WordPress' ``wpdb::parse_db_host`` reads
    ``DB_HOST``; Bitrix and Joomla take the same forms) into host, port and socket."""
    socket: str | None = None
    position = host.find(":/")
    if position >= 0:
        host, socket = host[:position], host[position + 1 :]
    port: str | None = None
    if host.startswith("["):
        end = host.find("]")
        if end > 0:
            host, rest = host[1:end], host[end + 1 :]
            port = rest[1:] if rest.startswith(":") else None
    elif host.count(":") == 1:
        host, port = host.split(":")
    return host or "localhost", port or None, socket


# -- the kinds ----------------------------------------------------------------------------------------------------


def _bitrix(root: Path, reading: _Reading) -> None:
    """``bitrix/.settings.php`` returns ``['connections' => ['value' => ['default' => [...]]]]``; a site
    without it (before Bitrix 14) has ``$DBHost``, ``$DBLogin``, ``$DBPassword``, ``$DBName`` in
    ``php_interface/dbconn.php``."""
    reported = len(reading.problems)
    connection: Value = None
    settings: PhpFile | None = None
    # .settings_extra.php's top-level keys replace .settings.php's (Bitrix\Main\Config\Configuration)
    for name in (".settings_extra.php", ".settings.php"):
        settings_path = root / "bitrix" / name
        settings = reading.php(settings_path)
        if settings is None or not isinstance(settings.returned, (dict, Unknown)):
            continue
        connection = settings.returned
        for key in ("connections", "value", "default"):
            connection = connection.get(key) if isinstance(connection, dict) else connection
        if isinstance(connection, Unknown):
            reading.problems.append(f"{settings_path}:{connection.line}: `connections`: {connection.why}: not guessed")
            return
        if connection is not None:
            break
    if isinstance(connection, dict):
        class_name = connection.get("className")
        engine = "postgresql" if isinstance(class_name, str) and "pgsql" in class_name.lower() else "mysql"
        if isinstance(class_name, str) and "sql" not in class_name.lower():
            reading.problems.append(f"{settings_path}: `className` names a database corral does not dump: not added")
            return
        keys = {"name": "database", "host": "host", "user": "login", "password": "password"}
        reading.add(settings_path, engine, keys, connection, host_has_port=True)
        return
    dbconn_path = root / "bitrix" / "php_interface" / "dbconn.php"
    dbconn = reading.php(dbconn_path)
    if dbconn is None:
        if len(reading.problems) == reported:
            reading.problems.append(f"{root}: Bitrix's database settings were not found: no database added")
        return
    db_type = dbconn.variables.get("DBType", "mysql")
    engine = "postgresql" if isinstance(db_type, str) and db_type.lower().startswith("pg") else "mysql"
    keys = {"name": "$DBName", "host": "$DBHost", "user": "$DBLogin", "password": "$DBPassword"}
    values = {key: dbconn.variables.get(key[1:]) for key in keys.values()}
    reading.add(dbconn_path, engine, keys, values, host_has_port=True)


def _wordpress(root: Path, reading: _Reading) -> None:
    """``wp-config.php``'s ``DB_NAME``, ``DB_USER``, ``DB_PASSWORD``, ``DB_HOST`` (in the WordPress folder or the
    one above, as ``wp-load.php`` looks). ``getenv()`` is known only if the file loads a ``.env`` itself
    (phpdotenv, as Bedrock-style setups do)."""
    path = root / "wp-config.php"
    skipped = {"wp-settings.php", "wp-load.php", "wp-blog-header.php"}

    def may_include(target: Path) -> bool:
        return target.parent in (path.parent, root) and target.name not in skipped

    config = reading.php(path, may_include=may_include)
    if config is None:
        if not reading.files.lexists(path):
            reading.problems.append(f"{root}: WordPress without a `wp-config.php`: no database added")
        return
    keys = {"name": "DB_NAME", "host": "DB_HOST", "user": "DB_USER", "password": "DB_PASSWORD"}
    reading.add(path, "mysql", keys, config.constants, host_has_port=True)


def _joomla(root: Path, reading: _Reading) -> None:
    """``configuration.php``'s ``class JConfig`` properties ``dbtype``, ``host``, ``user``, ``password``, ``db``."""
    path = root / "configuration.php"
    config = reading.php(path)
    if config is None:
        return
    properties = config.classes.get("JConfig")
    if properties is None:
        reading.problems.append(f"{path}: no `class JConfig`: no database added")
        return
    dbtype = properties.get("dbtype", "mysqli")
    engine = ENGINES.get(str(dbtype).lower(), "mysql") if isinstance(dbtype, str) else "mysql"
    keys = {"name": "db", "host": "host", "user": "user", "password": "password"}
    reading.add(path, engine, keys, properties, host_has_port=True)


def _drupal_databases(path: Path, config: PhpFile, reading: _Reading) -> None:
    """``$databases[key]['default']`` (Drupal 7 and later, both array syntaxes), or Drupal 6's ``$db_url``."""
    databases = config.variables.get("databases")
    if isinstance(databases, Unknown):
        reading.problems.append(f"{path}:{databases.line}: `$databases`: {databases.why}: not guessed")
        return
    if not isinstance(databases, dict):
        legacy = config.variables.get("db_url")
        urls = legacy.values() if isinstance(legacy, dict) else [legacy]
        for url in urls:
            if isinstance(url, str):
                reading.url(path, "$db_url", url)
            elif isinstance(url, Unknown):
                reading.problems.append(f"{path}:{url.line}: `$db_url`: {url.why}: not guessed")
        return
    for key, targets in databases.items():
        connection = targets.get("default") if isinstance(targets, dict) else targets
        shown = f"$databases['{key}']['default']"
        if isinstance(connection, Unknown):
            reading.problems.append(f"{path}:{connection.line}: `{shown}`: {connection.why}: not guessed")
            continue
        if not isinstance(connection, dict):
            continue
        driver = connection.get("driver", "mysql")
        if driver == "sqlite":
            continue
        engine = ENGINES.get(driver) if isinstance(driver, str) else None
        if engine is None:
            reading.problems.append(f"{path}: `{shown}['driver']` is not MySQL or PostgreSQL: not added")
            continue
        keys = {"name": "database", "host": "host", "port": "port", "user": "username", "password": "password",
                "socket": "unix_socket"}
        reading.add(path, engine, keys, connection)


def _drupal(root: Path, reading: _Reading, drupal_root: Path) -> None:
    """Every ``sites/*/settings.php`` (multisite), with ``$app_root`` and ``$site_path`` set as Drupal sets them
    and the includes of the site's own folder followed (``settings.local.php``)."""
    sites = drupal_root / "sites"
    try:
        names = sorted(os.listdir(reading.files.resolve(sites)))
    except OSError:
        names = []
    paths = [path for path in (sites / name / "settings.php" for name in names) if reading.files.lexists(path)]
    if len(paths) > MAX_DRUPAL_SITES:
        reading.problems.append(f"{sites}: more than {MAX_DRUPAL_SITES} sites: the settings of the others are not read")
        paths = paths[:MAX_DRUPAL_SITES]
    for path in paths:
        site = path.parent

        def may_include(target: Path, site: Path = site) -> bool:
            return target.parent == site

        variables: dict[str, Value] = {"app_root": str(drupal_root), "site_path": f"sites/{site.name}"}
        config = reading.php(path, variables=variables, may_include=may_include)
        if config is not None:
            _drupal_databases(path, config, reading)


def _laravel(root: Path, reading: _Reading) -> None:
    """As Laravel: a cached configuration (``bootstrap/cache/config.php``, ``php artisan config:cache``) wins;
    otherwise ``config/database.php`` with ``env()`` from ``.env``; without that file, ``.env``'s ``DB_*`` with
    Laravel's defaults. A connection's ``url`` (``DB_URL``, ``DATABASE_URL``) overrides its other keys."""
    cached = root / "bootstrap" / "cache" / "config.php"
    if reading.files.lexists(cached):
        config_file = reading.php(cached)
        config = config_file.returned if config_file is not None else None
        _laravel_connection(cached, config.get("database") if isinstance(config, dict) else None, reading)
        return
    env = read_env(root / ".env", reading.files, reading.problems)
    database_php = root / "config" / "database.php"
    environment = Environment(getenv=env, superglobals=env, source=f"{root / '.env'}")
    if reading.files.lexists(database_php):
        config_file = reading.php(database_php, environment=environment)
        if config_file is not None:
            _laravel_connection(database_php, config_file.returned, reading)
        if reading.files.lexists(root / ".env"):  # where the values are set, the file an administrator edits
            reading.databases = [replace(database, read_from=root / ".env") if database.read_from == database_php
                                 else database for database in reading.databases]
        return
    # no config/database.php: Laravel 11 or later, whose own default connection is sqlite
    connection = env.get("DB_CONNECTION", "sqlite")
    if connection in ("sqlite", "sqlsrv"):
        return
    url = env.get("DB_URL") or env.get("DATABASE_URL")
    if url:
        reading.url(root / ".env", "DB_URL" if env.get("DB_URL") else "DATABASE_URL", url)
        return
    engine = ENGINES.get(connection)
    if engine is None:
        reading.problems.append(f"{root / '.env'}: `DB_CONNECTION` is not MySQL or PostgreSQL: not added")
        return
    values: dict[str, Value] = {"DB_HOST": "127.0.0.1", "DB_DATABASE": "laravel", "DB_USERNAME": "root", **env}
    keys = {"name": "DB_DATABASE", "host": "DB_HOST", "port": "DB_PORT", "user": "DB_USERNAME",
            "password": "DB_PASSWORD", "socket": "DB_SOCKET"}
    reading.add(root / ".env", engine, keys, values)


def _laravel_connection(path: Path, config: Value, reading: _Reading) -> None:
    if isinstance(config, Unknown):
        reading.problems.append(f"{path}:{config.line}: the database configuration: {config.why}: not guessed")
        return
    if not isinstance(config, dict):
        reading.problems.append(f"{path}: no database configuration returned: no database added")
        return
    default = config.get("default")
    if isinstance(default, Unknown) or not isinstance(default, str):
        reading.known(default, path, "default")
        return
    connections = config.get("connections")
    connection = connections.get(default) if isinstance(connections, dict) else None
    if isinstance(connection, Unknown) or not isinstance(connection, dict):
        reading.known(connection, path, f"connections.{default}")
        return
    driver = connection.get("driver")
    url = connection.get("url")
    if isinstance(url, str) and url:
        reading.url(path, f"connections.{default}.url", url)
        return
    if driver in ("sqlite", "sqlsrv"):
        return
    engine = ENGINES.get(driver) if isinstance(driver, str) else None
    if engine is None:
        reading.known(driver, path, f"connections.{default}.driver")
        if isinstance(driver, str):
            reading.problems.append(f"{path}: `connections.{default}.driver` is not MySQL or PostgreSQL: not added")
        return
    keys = {"name": "database", "host": "host", "port": "port", "user": "username", "password": "password",
            "socket": "unix_socket"}
    prefixed = {part: f"connections.{default}.{key}" for part, key in keys.items()}
    reading.add(path, engine, prefixed, {prefixed[part]: connection.get(key) for part, key in keys.items()})


def symfony_env(root: Path, reading: _Reading) -> tuple[dict[str, str], Path]:
    """The variables as Symfony's ``Dotenv::loadEnv`` sees them: ``.env.local.php`` (``composer dump-env``) alone
    if present; else ``.env`` (or ``.env.dist``), ``.env.local`` (not for ``APP_ENV=test``), ``.env.$APP_ENV``,
    ``.env.$APP_ENV.local``, each overriding the one before. Returns them and the last file that set
    ``DATABASE_URL``."""
    dumped = root / ".env.local.php"
    if reading.files.lexists(dumped):
        config = reading.php(dumped)
        returned = config.returned if config is not None else None
        if isinstance(returned, dict):
            return {str(k): v for k, v in returned.items() if isinstance(v, str)}, dumped
        reading.problems.append(f"{dumped}: does not return the variables: not used")
    first = root / ".env" if reading.files.lexists(root / ".env") else root / ".env.dist"
    values = read_env(first, reading.files, reading.problems)
    source = first
    app_env = values.get("APP_ENV", "dev")
    names = [".env.local"] if app_env != "test" else []
    if app_env != "local":
        names += [f".env.{app_env}", f".env.{app_env}.local"]
    for name in names:
        if "/" in name:
            continue
        more = read_env(root / name, reading.files, reading.problems, values)
        if "DATABASE_URL" in more:
            source = root / name
        values.update(more)
    return values, source


def _symfony(root: Path, reading: _Reading) -> None:
    """Doctrine's ``DATABASE_URL`` from the ``.env`` files (see :func:`symfony_env`)."""
    values, source = symfony_env(root, reading)
    url = values.get("DATABASE_URL")
    if url:
        reading.url(source, "DATABASE_URL", url)
    elif reading.files.lexists(root / "config" / "packages" / "doctrine.yaml"):
        reading.problems.append(f"{root}: Doctrine is configured but no `.env` file sets `DATABASE_URL`: "
                                "its database is not known")


def _dotenv(root: Path, reading: _Reading) -> None:
    """A plain ``.env`` with ``DATABASE_URL`` (Node, Python, Go apps and hand-made PHP alike)."""
    env = read_env(root / ".env", reading.files, reading.problems)
    if env.get("DATABASE_URL"):
        reading.url(root / ".env", "DATABASE_URL", env["DATABASE_URL"])


# -- recognising ----------------------------------------------------------------------------------------------------


MARKERS: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = (
    ("bitrix", (("bitrix/.settings.php", "bitrix/php_interface/dbconn.php"),)),
    ("wordpress", (("wp-includes/version.php", "wp-settings.php", "wp-config.php"),)),
    ("drupal", (("core/lib/Drupal.php", "includes/bootstrap.inc"), ("sites",))),
    ("joomla", (("configuration.php",), ("libraries/src/Version.php", "libraries/cms/version/version.php",
                                         "administrator"))),
    ("laravel", (("artisan",),)),
    ("symfony", (("bin/console", "symfony.lock"),)),
)
"""Each kind's own files, in the order tried at each folder (a Bitrix shop may carry a WordPress blog's files):
one of each group must be there."""

READERS: dict[str, Callable[[Path, _Reading], None]] = {
    "bitrix": _bitrix,
    "wordpress": _wordpress,
    "joomla": _joomla,
    "laravel": _laravel,
    "symfony": _symfony,
    "dotenv": _dotenv,
}


def _levels(document_root: Path, root: Path, fs: Files) -> list[Path]:
    """The document root and up to :data:`LEVELS` folders above it, stopping below ``root``, a shared parent
    (:data:`SHARED_PARENTS`) and a folder another user owns (``/var/www`` is root's, a site is its owner's)."""
    levels = [document_root]
    stops = {root, *(root / shared for shared in SHARED_PARENTS)}
    try:
        owner = os.stat(fs.resolve(document_root)).st_uid
    except OSError:
        return levels
    folder = document_root
    for _ in range(LEVELS):
        parent = folder.parent
        if parent == folder or parent in stops or folder in stops:
            break
        try:
            if os.stat(fs.resolve(parent)).st_uid != owner:
                break
        except OSError:
            break
        levels.append(parent)
        folder = parent
    return levels


def _project(kind: str, root: Path, reading: _Reading, excludes: tuple[str, ...] | None = None) -> Project:
    reading.problems.extend(note for note in reading.files.notes if note not in reading.problems)
    if len(reading.problems) > MAX_PROBLEMS:
        more = len(reading.problems) - MAX_PROBLEMS
        reading.problems[MAX_PROBLEMS:] = [f"{root}: {more} more problem(s) not shown"]
    return Project(
        kind=kind,
        root=root,
        excludes=EXCLUDES.get(kind, ()) if excludes is None else excludes,
        databases=tuple(reading.databases),
        problems=tuple(printable(problem) for problem in reading.problems),
    )


def printable(line: str) -> str:
    """A problem line with what is not printable as ``?``: file names are the site owner's, and one holding a line
    break or a terminal escape must not forge or hide lines of corral's output."""
    return "".join(char if char.isprintable() else "?" for char in line)


def recognise(document_root: Path, root: Path = Path("/")) -> Project:
    """The project a document root serves: its kind, root, cache excludes and databases (see the module
    docstring). ``root``: the filesystem root the document root lies under (``corral discover --root``); nothing
    at or above it is looked at, and links are followed under it. Never raises for a project's content: problems
    are lines in the result."""
    document_root = Path(os.path.normpath(document_root))
    root = Path(os.path.normpath(root))
    fs = Files(root, root)
    if not fs.is_dir(document_root):
        problem = printable(f"{document_root}: the document root is not a folder")
        return Project(kind="plain", root=document_root, problems=(problem,))
    levels = _levels(document_root, root, fs)

    def has(folder: Path, *names: str) -> bool:
        return any(fs.lexists(folder / name) for name in names)

    for folder in levels:
        for kind, groups in MARKERS:
            if not all(has(folder, *group) for group in groups):
                continue
            if kind == "drupal":
                # a Composer-built Drupal (drupal/recommended-project) has its composer.json above web/
                up = folder.parent in levels and has(folder.parent, "composer.json")
                return _recognise_drupal(folder, folder.parent if up else folder, Files(folder, root, levels[-1]))
            project_root = folder
            parent = folder.parent
            if kind == "wordpress" and not has(folder, "wp-config.php") and parent in levels \
                    and has(parent, "wp-config.php") and not has(parent, "wp-settings.php"):
                project_root = parent  # wp-config.php one level up, as wp-load.php allows
            reading = _Reading(Files(project_root, root, levels[-1]))
            _run(READERS[kind], project_root, reading)
            return _project(kind, project_root, reading)
    for folder in levels:
        if has(folder, ".env"):
            reading = _Reading(Files(folder, root, levels[-1]))
            _run(_dotenv, folder, reading)
            if reading.databases or reading.problems:
                return _project("dotenv", folder, reading)
    return Project(kind="plain", root=document_root)


def _recognise_drupal(drupal_root: Path, project_root: Path, files: Files) -> Project:
    """Drupal's excludes are relative to the Drupal root: prefixed with ``web/`` when the project root is above."""
    reading = _Reading(Files(project_root, files.fs_root, files.outer))
    _run(lambda folder, r: _drupal(folder, r, drupal_root), project_root, reading)
    prefix = drupal_root.relative_to(project_root).as_posix()
    excludes = tuple(f"{prefix}/{path}" if prefix != "." else path for path in EXCLUDES["drupal"])
    return _project("drupal", project_root, reading, excludes)


def _run(reader: Callable[[Path, _Reading], Any], root: Path, reading: _Reading) -> None:
    """Run one kind's reader; an unexpected error becomes a problem line (a bug in corral must not stop
    discovery of the other sites, and its message must not carry a file's content)."""
    try:
        reader(root, reading)
    except RecursionError:
        reading.problems.append(f"{root}: the settings are nested too deeply: not read")
    except (OSError, ValueError, UnicodeError) as error:
        reading.problems.append(f"{root}: the settings could not be read ({type(error).__name__}): not read")
