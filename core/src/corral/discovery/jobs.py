"""The job file ``corral discover`` writes: one files job per site, one database job per database server.

Names, paths and database names come from files the sites' owners control: the file is emitted with PyYAML's
safe dumper (a name cannot become a key or a tag), comments hold printable characters only, and a password is
never part of the job file: it goes into a 0600 file of the credentials folder beside it, which the job reads
with ``!file`` (docs/discover.md).
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from corral.discovery.model import Database, Project, Site
from corral.targets import safe

DEFAULT_BACKUP_DIR = Path("/var/backups/corral")
RETENTION = {"days": 6, "weeks": 4, "months": 6}  # what `corral generate` writes
HEADER = "# corral discover: sha256 "
MAX_FILE_BYTES = 16 << 20  # as a configuration file
ENGINES = ("mysql", "postgresql")
DEFAULT_PORTS = {"mysql": 3306, "postgresql": 5432}
_RESERVED = ("all", "files", "databases", "external")


@dataclass(frozen=True)
class Found:
    """A site and the project behind it (None: not looked at, as a disabled site, or not recognised)."""

    site: Site
    project: Project | None


@dataclass
class Plan:
    """The jobs to write, the secrets they reference (file name in the credentials folder -> password), and
    what was seen but gets no job (one line each)."""

    jobs: list[dict[str, Any]] = field(default_factory=list)
    comments: dict[str, list[str]] = field(default_factory=dict)  # job name -> comment lines above it
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    site_jobs: dict[Path, str] = field(default_factory=dict)  # project root -> files job
    database_jobs: dict[tuple[Any, ...], str] = field(default_factory=dict)  # server key -> database job
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # sites the web server does not serve


class FileRef(str):
    """A value written as ``!file PATH``: the job reads the secret from the credentials folder."""


class _Dumper(yaml.SafeDumper):
    """The safe dumper, with ``!file`` for the credentials."""


_Dumper.add_representer(FileRef, lambda dumper, value: dumper.represent_scalar("!file", str(value)))
Dumper = _Dumper  # for corral.migrate, which writes job files the same way


def shown(text: object) -> str:
    """``text`` for a comment or a line of output: what is not printable (a line break that would end the
    comment, a terminal escape) becomes ``?``."""
    return "".join(char if char.isprintable() else "?" for char in str(text))


def job_name(text: str, taken: set[str]) -> str:
    """A file-safe job name from a server name, unique among ``taken`` (which it joins)."""
    try:
        text = text.lower().encode("idna").decode("ascii")  # пример.рф: xn--e1afmkfd.xn--p1ai
    except UnicodeError:
        text = text.lower()
    base = safe(text.strip(".") or "site")
    if base in _RESERVED:
        base = f"{base}-site"
    name = unique(base, taken)
    taken.add(name)
    return name


def unique(base: str, taken: set[str]) -> str:
    """``base``, or ``base-2``, ``base-3``... the first that ``taken`` does not hold (it is not added)."""
    name, count = base, 1
    while name in taken:
        count += 1
        name = f"{base}-{count}"
    return name


def _plain_name(names: Iterable[str]) -> str | None:
    """The first server name that names one host: not nginx's catch-all ``_``, a regex or a wildcard."""
    for name in names:
        if name and name != "_" and not name.startswith("~") and "*" not in name and "$" not in name:
            return name
    return None


def server_key(database: Database) -> tuple[str, str, int | None, str | None]:
    """:attr:`Database.server_key` with the default port filled in where the client would use it (a TCP host):
    ``127.0.0.1`` and ``127.0.0.1:3306`` are one server. MySQL's ``localhost`` without a port is its socket."""
    engine, host, port, socket = database.server_key
    if port is None and socket is None and not (engine == "mysql" and host == "localhost"):
        port = DEFAULT_PORTS.get(engine)
    return engine, host, port, socket


def _where(database: Database) -> str:
    """The settings file a database was read from, for a problem line."""
    return shown(database.read_from) if database.read_from else f"database `{shown(database.name)}`"


def _server(key: tuple[str, str, int | None, str | None]) -> str:
    """The server as a person names it: ``127.0.0.1:3306``, ``localhost``, ``socket /run/mysqld/mysqld.sock``."""
    _, host, port, socket = key
    if socket:
        return f"socket {socket}"
    return f"{host}:{port}" if port else host


def _storages(job_type: str, backup_dir: Path) -> list[dict[str, Any]]:
    """A local storage; backup_dir holds every job's ``<job>/<target>/`` folders."""
    storage: dict[str, Any] = {"storage": "local", "enable": True, "backup_dir": str(backup_dir)}
    if job_type != "inc_files":  # an incremental chain is kept whole: inc_files has no retention keys
        storage["store"] = dict(RETENTION)
    return [storage]


def plan(found: Iterable[Found], *, incremental: bool = False, backup_dir: Path = DEFAULT_BACKUP_DIR,
         credentials: str = "discovered.credentials") -> Plan:
    """The jobs for the enabled sites of ``found``: a files job per project root (two vhosts of one root, as a
    port 80 and a port 443 server block, share it), a database job per server with one source per login."""
    result = Plan()
    taken: set[str] = set()
    files_type = "inc_files" if incremental else "desc_files"
    by_root: dict[Path, list[Found]] = {}
    for item in found:
        if not item.site.enabled:
            result.skipped.append(f"{' '.join(item.site.names) or '(no server name)'} {item.site.document_root} "
                                  f"({item.site.server} {item.site.declared_in}:{item.site.line}): not enabled")
        if item.project is None or not item.site.enabled:
            continue
        if not item.project.root.is_dir():
            if not item.project.problems:  # otherwise the recogniser has said why
                result.problems.append(f"{shown(item.site.declared_in)}:{item.site.line}: document root "
                                       f"`{shown(item.site.document_root)}` is not a folder: no job for it")
            continue
        by_root.setdefault(item.project.root, []).append(item)
    servers: dict[tuple[str, str, int | None, str | None], dict[str, list[Database]]] = {}
    for root in sorted(by_root):
        items = by_root[root]
        project = items[0].project
        assert project is not None
        names = [name for item in items for name in item.site.names]
        name = job_name(_plain_name(names) or root.name, taken)
        result.site_jobs[root] = name
        result.comments[name] = [f"{' '.join(dict.fromkeys(names)) or '(no server name)'}: {project.kind}, "
                                 f"{items[0].site.server} {items[0].site.declared_in}:{items[0].site.line}"]
        source: dict[str, Any] = {"target": [str(root)]}
        if project.excludes:
            source["excludes"] = list(project.excludes)
        source["compression"] = "gzip"
        result.jobs.append({"job": name, "type": files_type, "sources": [source],
                            "storages": _storages(files_type, backup_dir)})
        for database in project.databases:
            if database.engine not in ENGINES:
                result.problems.append(f"{shown(database.read_from or root)}: database `{shown(database.name)}`: "
                                       f"engine `{shown(database.engine)}` has no job type here")
                continue
            if database.name in ("", "all"):  # `all` as a target is every database the login sees
                result.problems.append(f"{shown(database.read_from or root)}: database name "
                                       f"`{shown(database.name)}` is not one corral can name as a target: no job")
                continue
            logins = servers.setdefault(server_key(database), {})
            if all(database.name != known.name for known_logins in logins.values() for known in known_logins):
                logins.setdefault(database.user or "", []).append(database)
    for key in sorted(servers, key=lambda k: (k[0], k[1], k[2] or 0, k[3] or "")):
        _database_job(result, key, servers[key], taken, credentials, backup_dir)
    return result


def _database_job(result: Plan, key: tuple[str, str, int | None, str | None], logins: dict[str, list[Database]],
                  taken: set[str], credentials: str, backup_dir: Path) -> None:
    """One ``mysql``/``postgresql`` job for a server: a source per login, its databases as targets."""
    engine, host, port, socket = key
    name = job_name(f"{engine}-{Path(socket).name if socket else host}" + (f"-{port}" if port else ""), taken)
    result.database_jobs[key] = name
    sources = []
    for user in sorted(logins):
        databases = logins[user]
        connect: dict[str, Any] = {"db_host": host}
        if port:
            connect["db_port"] = port
        if socket:
            connect["socket"] = socket
        if user:
            connect["db_user"] = user
        password = next((d.password for d in databases if d.password), None)
        other = next((d for d in databases if d.password and d.password != password), None)
        if other is not None:
            result.problems.append(f"{_where(other)}: login `{shown(user)}` on {engine} server "
                                   f"{shown(_server(key))} has another password than in "
                                   f"{_where(databases[0])}: job `{name}` uses the first")
        if password is not None and password.splitlines() != [password]:  # \n, \r, \x85, \u2028...
            result.problems.append(f"{_where(databases[0])}: the password of `{shown(user)}` holds a line "
                                   "break, which `!file` cannot read: set `db_password` of job "
                                   f"`{name}` by hand")
        elif password is not None:
            secret = f"{name}.{safe(user or 'login')}.password"
            result.secrets[secret] = password
            connect["db_password"] = FileRef(f"{credentials}/{secret}")
        source: dict[str, Any] = {"connect": connect, "target": [d.name for d in databases]}
        if user:
            source["name"] = user
        source["compression"] = "gzip"
        if engine == "postgresql":
            source["globals"] = False  # roles and tablespaces need a superuser; a site's login is none
        sources.append(source)
    comment = [f"{engine} server {_server(key)}: the databases the sites use"]
    if len(sources) > 1:
        comment.append("one source per login: the projects use different users on this server")
    result.comments[name] = comment
    result.jobs.append({"job": name, "type": engine, "sources": sources,
                        "storages": _storages(engine, backup_dir)})


def render(result: Plan, *, root: Path, credentials: str) -> str:
    """The job file: its sha256 header line, then comments and the jobs (safe dumper)."""
    lines = ["# Written by `corral discover` from the web servers' configuration"
             + (f" under {shown(root)}" if str(root) != "/" else "") + ".",
             "# Run it again to update this file; once edited by hand, it is overwritten only with --force.",
             f"# Passwords are in {shown(credentials)}/ (mode 0600), read with `!file`."]
    if not result.jobs:
        lines.append("[]")  # no site found: an empty list of jobs, still a valid job file
    for job in result.jobs:
        lines.append("")
        lines.extend(f"# {shown(comment)}" for comment in result.comments.get(job["job"], []))
        lines.append(yaml.dump([job], Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                               default_flow_style=False, width=120).rstrip("\n"))
    if result.skipped:
        lines.extend(["", "# Sites without a job:"])
        lines.extend(f"# - {shown(skipped)}" for skipped in result.skipped)
    body = "\n".join(lines) + "\n"
    return f"{HEADER}{digest(body)}\n{body}"


def digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8", "surrogateescape")).hexdigest()


def written_by_corral(text: str) -> bool:
    """Whether ``text`` (a job file) is as ``corral discover`` wrote it: its header's hash is its body's."""
    head, _, body = text.partition("\n")
    return head.startswith(HEADER) and head[len(HEADER):].strip() == digest(body)


def body_of(text: str) -> str:
    """A job file without its header line (what a re-run compares)."""
    head, _, body = text.partition("\n")
    return body if head.startswith(HEADER) else text


_SECRET_LINE = re.compile(r"^([-+ ][\s-]*[\w.-]*(?:password|passphrase|secret|token)[\w.-]*\s*:\s*)(?![!\s]|$).*$",
                          re.IGNORECASE | re.MULTILINE)


def unified(old: str, new: str, path: str) -> str:
    """What a re-run would change, as ``diff -u`` shows it (header lines left out: a hash says nothing); a password
    written into the file by hand shows as ``(hidden)``, a ``!file`` or ``!env`` reference as it is."""
    diff = "".join(difflib.unified_diff(body_of(old).splitlines(keepends=True),
                                        body_of(new).splitlines(keepends=True), f"{path} (now)",
                                        f"{path} (discovered)"))
    return _SECRET_LINE.sub(r"\1(hidden)", diff)


class _TagsAsText(yaml.SafeLoader):
    """Reads a job file's jobs and targets: ``!file``, ``!env`` and ``!include`` stay text, nothing is read."""


_TagsAsText.add_multi_constructor("!", lambda loader, suffix, node: f"{suffix} {node.value}"
                                  if isinstance(node, yaml.ScalarNode) else suffix)


def targets_of(text: str) -> dict[str, list[str]] | None:
    """Job name -> targets of a job file (None: not a list of jobs as corral discover writes them)."""
    try:
        loaded = yaml.load(text, Loader=_TagsAsText)  # a SafeLoader: the tags above construct nothing
    except yaml.YAMLError:
        return None
    if not isinstance(loaded, list):
        return None
    found: dict[str, list[str]] = {}
    for job in loaded:
        if not isinstance(job, dict) or not isinstance(job.get("sources"), list):
            continue
        found[str(job.get("job"))] = [str(target) for source in job["sources"] if isinstance(source, dict)
                                      for target in (source.get("target") or [])]
    return found


def changes(old: str, new: str) -> list[str]:
    """What a re-run adds and removes, a line each: jobs, and targets of the jobs both files have."""
    before, after = targets_of(old), targets_of(new)
    if before is None or after is None:
        return []
    lines = [f"+ job {name}: {', '.join(after[name])}" for name in after if name not in before]
    lines += [f"- job {name}: {', '.join(before[name])}" for name in before if name not in after]
    for name in after:
        if name in before:
            lines += [f"+ target {target} (job {name})" for target in after[name] if target not in before[name]]
            lines += [f"- target {target} (job {name})" for target in before[name] if target not in after[name]]
    return [shown(line) for line in lines]


class WriteError(Exception):
    """A file or folder corral discover cannot write (one line, naming it)."""


def read_existing(path: Path) -> str | None:
    """The job file as it is, or None when there is none; a file corral would not write over is a WriteError."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise WriteError(f"cannot read `{path}`: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise WriteError(f"`{path}` is not a regular file")
        with open(fd, "rb", closefd=False) as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise WriteError(f"`{path}` is larger than {MAX_FILE_BYTES >> 20} MiB: not a job file corral wrote")
    return data.decode("utf-8", "surrogateescape")


def _private_folder(path: Path) -> int:
    """An fd of ``path``, a folder of the running user's alone (0700), made if missing, never through a link."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise WriteError(f"cannot create `{path}`: {exc.strerror}") from None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise WriteError(f"`{path}` is not a folder (a link is not followed): {exc.strerror}") from None
    info = os.fstat(fd)
    if info.st_uid != os.geteuid():
        os.close(fd)
        raise WriteError(f"`{path}` belongs to uid {info.st_uid}, not to the user running corral: not used")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.fchmod(fd, 0o700)
    return fd


def _write_at(folder: int, name: str, data: bytes) -> None:
    """``name`` in the open folder, replaced at once (temp file + rename), mode 0600."""
    temp = f".{name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=folder)
    try:
        with open(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.rename(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        os.unlink(temp, dir_fd=folder)
        raise


write_at = _write_at  # for corral.migrate: a file replaced whole, mode 0600
private_folder = _private_folder  # for corral.migrate: a folder of the running user's alone


def write(path: Path, text: str, credentials: dict[str, str], credentials_dir: Path, job_file: bool = True) -> None:
    """The credentials first (the job file never names a missing one), then the job file (unless ``job_file`` is
    False: it is up to date), each replaced whole; then the password files the job file there before read and no
    job names any more are deleted (a removed site's password is not kept; a file corral did not name is not its
    own to delete)."""
    if credentials_dir == path:
        raise WriteError(f"`{path}` is the name of its own credentials folder: name the job file `.conf`")
    parent = path.parent
    try:
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"cannot create `{parent}`: {exc.strerror}") from None
    previous = read_existing(path)
    stale = _secret_files(previous, credentials_dir.name) - set(credentials) if previous is not None else set()
    secrets_folder = _private_folder(credentials_dir) if credentials or os.path.lexists(credentials_dir) else None
    try:
        if secrets_folder is not None:
            try:
                for name, password in sorted(credentials.items()):
                    _write_at(secrets_folder, name, password.encode("utf-8", "surrogateescape") + b"\n")
            except OSError as exc:
                raise WriteError(f"cannot write into `{credentials_dir}`: {exc.strerror}") from None
        if job_file:
            _write_job_file(path, text)
        if secrets_folder is not None:
            try:
                for name in os.listdir(secrets_folder):
                    if name in stale:
                        os.unlink(name, dir_fd=secrets_folder)
            except OSError as exc:
                raise WriteError(f"cannot clean `{credentials_dir}`: {exc.strerror}") from None
    finally:
        if secrets_folder is not None:
            os.close(secrets_folder)


def _secret_files(text: str, folder: str) -> set[str]:
    """The names in credentials folder ``folder`` a job file reads with ``!file folder/NAME``."""
    names: set[str] = set()

    class Loader(yaml.SafeLoader):
        pass

    def read_file(loader: yaml.SafeLoader, node: yaml.Node) -> None:
        value = str(loader.construct_scalar(node)) if isinstance(node, yaml.ScalarNode) else ""
        head, _, name = value.rpartition("/")
        if head == folder and name.endswith(".password"):
            names.add(name)

    Loader.add_constructor("!file", read_file)
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    try:
        yaml.load(text, Loader=Loader)  # a SafeLoader: the tags above construct nothing
    except yaml.YAMLError:
        return set()  # a job file that does not load names none
    return names


def _write_job_file(path: Path, text: str) -> None:
    try:
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise WriteError(f"cannot open `{path.parent}`: {exc.strerror}") from None
    try:
        _write_at(folder, path.name, text.encode("utf-8", "surrogateescape"))
    except OSError as exc:
        raise WriteError(f"cannot write `{path}`: {exc.strerror}") from None
    finally:
        os.close(folder)


def credentials_dir(path: Path) -> Path:
    """The credentials folder of job file ``path``: ``conf.d/discovered.conf`` -> ``conf.d/discovered.credentials``."""
    return path.with_name(f"{path.stem or path.name}.credentials")


def find(root: Path) -> tuple[list[Found], list[str]]:
    """Every site the web servers under ``root`` declare, with its project (enabled sites only), and the
    problems met (one line each)."""
    from corral.discovery import projects, webservers

    sites, problems = webservers.find_sites(root)
    found = []
    for site in sites:
        project = None
        if site.enabled:
            try:
                project = projects.recognise(site.document_root, root=root)
            except Exception as exc:  # a bug in a recogniser: the other sites are still found
                problems.append(f"{shown(site.declared_in)}:{site.line}: the project of "
                                f"`{shown(site.document_root)}` could not be read ({type(exc).__name__})")
            else:
                problems.extend(project.problems)
        found.append(Found(site, project))
    return found, problems


def included_by(main: Path, path: Path) -> bool | None:
    """Whether the ``jobs: !include`` of main file ``main`` matches ``path`` (None: the main file cannot be
    read, or includes nothing)."""
    patterns: list[str] = []

    class Loader(yaml.SafeLoader):
        pass

    def include(loader: yaml.SafeLoader, node: yaml.Node) -> None:
        if isinstance(node, yaml.ScalarNode):
            patterns.append(str(loader.construct_scalar(node)))
        elif isinstance(node, yaml.SequenceNode):
            patterns.extend(str(loader.construct_scalar(child)) for child in node.value
                            if isinstance(child, yaml.ScalarNode))

    Loader.add_constructor("!include", include)
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)  # !env, !file: not needed here
    try:
        text = read_existing(main)
        if text is None:
            return None
        yaml.load(text, Loader=Loader)  # a SafeLoader: the tags above construct nothing
    except (WriteError, yaml.YAMLError):
        return None
    if not patterns:
        return None
    target = Path(os.path.abspath(path))
    for pattern in patterns:
        full = Path(os.path.abspath(pattern if os.path.isabs(pattern) else main.parent / pattern))
        if len(full.parts) == len(target.parts) and target.match(str(full)) and not (
                target.name.startswith(".") and not full.name.startswith(".")):
            return True
    return False
