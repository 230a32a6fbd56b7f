"""The core's configuration models and the bases that plugin schemas extend.

Plugins declare their own keys as pydantic models: ``JobOptions`` for job-level keys, ``SourceOptions`` for an
item of ``sources``, ``StorageOptions`` for a storage's connection keys and ``MainOptions`` for a notifier's
``main:`` keys. The core owns the rest. Validators are built on first use (``defer_build``): a run pays only for
the models it validates.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator

_STRICT = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)
DRILL_TIMEOUT = 4 * 3600.0  # seconds: a target's drill that takes longer is stopped (main: drill_timeout)


class JobOptions(BaseModel):
    """Base for the job-level keys of a job type (``dump_cmd`` of ``external``)."""

    model_config = _STRICT


class Keys(BaseModel):
    """Base for a group of keys nested in a source item (``connect:``): strict, and no shared keys."""

    model_config = _STRICT


class SourceOptions(Keys):
    """Base for the keys of one item of a job's ``sources`` list; ``name`` is shared by every source type."""

    # the keys in the order `corral generate` writes them, where it differs from the fields' (a base's come first)
    template_order: ClassVar[tuple[str, ...]] = ()

    name: str | None = Field(
        default=None, pattern=r"^[^/\\\x00]+$",
        description="what logs and messages call this source (default: source 1, source 2...)",
    )

    @field_validator("name", mode="before")
    @classmethod
    def _blank_name(cls, value: Any) -> Any:
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and not value.isprintable():
            raise ValueError("must be printable: no tab, line break or control character")
        return value


CodecName = Literal["none", "gzip", "zstd"]


class CompressedSource(SourceOptions):
    """A source item whose archives go through the core's codecs: the shared ``gzip`` (the article's) and
    ``compression`` keys, and :attr:`codec_name` for :func:`corral.compressed`."""

    gzip: bool = Field(default=False, description="compress with gzip (pigz when installed)")
    compression: CodecName | None = Field(
        default=None, description="none, gzip or zstd (several times faster than gzip); overrides gzip",
    )

    @field_validator("compression", mode="before")
    @classmethod
    def _blank_compression(cls, value: Any) -> Any:
        return None if value == "" else value

    @model_validator(mode="after")
    def _one_codec(self) -> CompressedSource:
        if self.compression is not None and self.gzip and self.compression != "gzip":
            raise ValueError(f"`gzip: yes` contradicts `compression: {self.compression}`; keep one")
        return self

    @property
    def codec_name(self) -> CodecName:
        """``compression`` wins; else the article's ``gzip: yes`` means gzip; else none."""
        return self.compression or ("gzip" if self.gzip else "none")


class StorageOptions(BaseModel):
    """Base for a storage's own keys (``host``, ``user``, ``password``...)."""

    model_config = _STRICT


class MainOptions(BaseModel):
    """Base for the keys a notifier adds to ``main:``; its fields are merged into the core's ``main`` model.

    Never validated on its own, so its validator is not built (pydantic's ``defer_build``): start-up stays short.
    """

    model_config = ConfigDict(defer_build=True)


@dataclass(frozen=True)
class SourceSchema:
    """What a source plugin accepts: job-level keys and per-source keys (either may be None)."""

    job: type[JobOptions] | None = None
    source: type[SourceOptions] | None = None
    group: Literal["files", "databases", "external"] = "databases"
    # "source": the plugin keeps and rotates its own chains (inc_files); a `store:` on its storages is an error
    retention: Literal["store", "source"] = "store"
    # the extensions of the archives it makes (`tar.gz`...; see corral.archive.with_compressions): rotation deletes
    # only archives with one of them; an archive with another is stored and fails its job. None (external, whose script
    # chooses): any valid extension
    extensions: tuple[str, ...] | None = None


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Store(BaseModel):
    """Retention: how many days, weeks and months of copies to keep (unset or 0: none of that kind).

    Without any of them, no backup is ever deleted (only the temp files of interrupted uploads).
    """

    model_config = _STRICT

    days: int | None = Field(default=None, ge=0, description="daily copies to keep (one per day of the last N days)")
    weeks: int | None = Field(default=None, ge=0, description="weekly copies to keep (first copy of each week)")
    months: int | None = Field(
        default=None, ge=0, description="monthly copies to keep (first copy of each month)"
    )

    @model_validator(mode="before")
    @classmethod
    def _month_alias(cls, data: Any) -> Any:
        """The article writes ``month:``; both spellings are accepted, not both at once."""
        if isinstance(data, dict) and "month" in data:
            if "months" in data:
                raise ValueError("give either `month` or `months`, not both")
            data = dict(data)
            data["months"] = data.pop("month")
        return data

    @property
    def enabled(self) -> bool:
        return bool(self.days or self.weeks or self.months)


class StorageCore(BaseModel):
    """The keys every storage entry has, whatever its kind."""

    model_config = _STRICT

    storage: str
    enable: bool = True
    backup_dir: str = Field(description="folder on the storage that holds this job's backups")
    store: Store = Field(default_factory=Store)
    file_mode: int = Field(
        default=0o600,
        description="permissions of the archives stored (octal; `0640` lets the group read them), where the storage "
        "has permissions",
    )
    dir_mode: int = Field(
        default=0o700,
        description="permissions of the folders corral creates on the storage (octal); existing folders keep theirs",
    )
    spool: bool = Field(
        default=False,
        description="write each archive to tmp_dir first and upload the file (retried whole), instead of streaming",
    )

    @field_validator("file_mode", "dir_mode", mode="before")
    @classmethod
    def _octal(cls, value: Any, info: ValidationInfo) -> int:
        """``0640`` in YAML is already an octal number; a string (``"0640"``, ``"0o640"``) is read as octal too."""
        mode = parse_mode(value)
        needed = 0o700 if info.field_name == "dir_mode" else 0o400
        if mode & needed != needed:
            what = "read, write and enter the folders it creates" if needed == 0o700 else "read the archives back"
            raise ValueError(
                f"`{info.field_name}: {mode:04o}` leaves corral unable to {what}; "
                f"the owner needs `{needed:04o}` at least"
            )
        return mode


def absolute_path(value: Path | None) -> Path | None:
    """Work folders, the lock and the log: a relative path would depend on the folder corral is started in (the
    admin's shell in /etc/corral, cron's in /root): two lock files, two runs at once."""
    if value is not None and "\0" in str(value):
        raise ValueError("a path cannot hold a NUL character (`\\0`)")
    if value is not None and not value.is_absolute():
        raise ValueError(f"write an absolute path: `{value}` is relative to the folder corral is started in "
                         "(cron starts it in the user's home)")
    return value


def parse_mode(value: Any) -> int:
    """Permission bits from YAML: an int (``0640`` unquoted, octal in YAML 1.1) or an octal string."""
    if isinstance(value, str) and re.fullmatch(r"(0o|0O)?[0-7]+", value.strip()):
        value = int(value.strip().removeprefix("0o").removeprefix("0O"), 8)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an octal mode such as `0640`, got `{value}`")
    written = getattr(value, "written", "")  # corral.config.loader.WrittenInt: `400` is not `0400`
    if re.fullmatch(r"[1-9][0-7]+", written) and 7 < value <= 0o777 and int(written, 8) <= 0o777:
        # `400` meant 0400 but YAML reads 400 (0620, group-writable); a generator writing 0o750 as 488 is no doubt
        raise ValueError(f"`{written}` is a decimal number in YAML, mode `{value:04o}`: write the mode in octal, "
                         f"`0{written}` (or `{value:04o}` if that is what you meant)")
    if not 0 <= value <= 0o777:
        octal_digits = re.fullmatch(r"[0-7]{3}", str(value))  # `640` unquoted meant 0640
        hint = f"; `{value}` reads as a decimal number, write it in octal: `0{value}`" if octal_digits else ""
        raise ValueError(f"a mode is between `0000` and `0777`{hint}")
    return value


def looks_secret(value: Any) -> bool:
    """A value that is a secret whatever the key holding it: an age secret key (`AGE-SECRET-KEY-...`) pasted
    where a public key belongs; never echoed in a message."""
    return isinstance(value, str) and "AGE-SECRET-KEY-" in value.upper()


_AGE_RECIPIENT = re.compile(r"age1[02-9ac-hj-np-z]{58}|ssh-(ed25519|rsa) [A-Za-z0-9+/=]+( .*)?")


class Encrypt(BaseModel):
    """``encrypt:``: every archive becomes an age file for these public keys; the server holds no secret key."""

    model_config = _STRICT

    recipients: list[str] = Field(default=[], description="age public keys (`age1...`) or SSH public keys")
    recipients_file: Path | None = Field(default=None, description="a file of recipients, one per line (age -R)")

    @field_validator("recipients", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("recipients")
    @classmethod
    def _keys(cls, value: list[str]) -> list[str]:
        for key in value:
            if looks_secret(key):  # not echoed: it is the key that opens the backups
                raise ValueError("a secret key (`AGE-SECRET-KEY-...`) is not a recipient: give its public key "
                                 "(`age-keygen -y KEYFILE`) and keep the secret key off this server")
            if not _AGE_RECIPIENT.fullmatch(key.strip()):
                raise ValueError(f"`{key[:80]}` is not an age public key (`age1...`, from `age-keygen -y KEYFILE`) or "
                                 "an SSH public key")
        return [key.strip() for key in value]

    @field_validator("recipients_file")
    @classmethod
    def _file(cls, value: Path | None) -> Path | None:
        return absolute_path(value)

    @model_validator(mode="after")
    def _someone(self) -> Encrypt:
        """The file's keys join ``recipients``, read now from a file only root or the running user can change:
        whoever could add a key to it would read every backup made after (age is never given the file itself)."""
        if self.recipients_file is not None:
            self.recipients = [*self.recipients, *self._keys(_read_recipients(self.recipients_file))]
        if not self.recipients:
            raise ValueError("give `recipients` (age public keys) or `recipients_file`")
        return self


def _read_recipients(path: Path) -> list[str]:
    """The keys of a recipients file (one per line, ``#`` comments), if only root or the running user can change
    it (:mod:`corral.config.trust`)."""
    from corral.config.loader import read_trusted
    from corral.errors import ConfigError

    try:
        data = read_trusted(path, 1 << 20)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    lines = data.decode("utf-8", errors="replace").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


class DrillCheck(BaseModel):
    """One check a drill runs on the restored data: ``sql`` (a query on the scratch database that must return a
    row) or ``command`` (a program that must exit 0, run in the restored folder); ``target`` limits it to one."""

    model_config = _STRICT

    sql: str | None = Field(default=None, description="a query that must return at least one row")
    command: str | None = Field(default=None, description="a shell command that must exit 0 (in the restored data)")
    target: str | None = Field(default=None, description="only for this target (default: every target)")

    @model_validator(mode="after")
    def _one(self) -> DrillCheck:
        if (self.sql is None) == (self.command is None):
            raise ValueError("a check is either `sql` or `command`")
        return self


def holds_password(server: str) -> bool:
    """Whether a server as ``--into`` or ``drill: server`` give it holds a password (``USER:PASSWORD@HOST``, a
    URI's, ``password=``): it would reach a client's arguments (``ps``) and corral's lines."""
    rest = server.split("://", 1)[1] if "://" in server else server
    userinfo, at, _ = rest.rpartition("@")
    return bool(at and ":" in userinfo) or "password=" in server.lower()


class Drill(BaseModel):
    """``drill:`` on a job: how ``corral drill`` proves its newest backups restore (docs/drill.md)."""

    model_config = _STRICT

    server: str | None = Field(default=None, description="restore into this server instead of a throwaway one "
                               "started from the local binaries (the type's --into form; it must be a scratch server)")
    tolerance: float = Field(default=0.1, ge=0, le=1, description="how far a row, key or document count may be "
                             "from the estimate recorded at dump time (0.1: 10 %)")
    checks: list[DrillCheck] = Field(default=[], description="queries or commands the restored data must pass")

    @field_validator("server")
    @classmethod
    def _no_password(cls, value: str | None) -> str | None:
        if value is not None and holds_password(value):
            raise ValueError("holds a password, which would show in the process list and in what corral prints: "
                             "give [USER@]HOST[:PORT] and the password in the client's own files (~/.my.cnf, "
                             "~/.pgpass, REDISCLI_AUTH...)")
        return value


class JobCore(BaseModel):
    """The keys every job has, whatever its type."""

    model_config = _STRICT

    job: str = Field(min_length=1, pattern=r"^[^/\\\x00]+$")
    type: str
    tmp_dir: Path | None = None
    sources: list[Any] | None = None
    storages: list[Any] = Field(min_length=1)
    spool: bool = False  # every archive of the job goes through a temp file in tmp_dir, as before streaming
    encrypt: Encrypt | None = None  # default: main's `encrypt`
    drill: Drill | None = None  # `corral drill`'s settings for the job

    @field_validator("tmp_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return absolute_path(value)

    @field_validator("job")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name in RESERVED_JOB_NAMES:
            raise ValueError(f"`{name}` is reserved for `corral start {name}`; choose another job name")
        if name in (".", ".."):  # a folder name: <backup_dir>/.. and <state_dir>/.. are not the job's own
            raise ValueError(f"`{name}` is no folder of its own (the job's folder would be backup_dir itself or "
                             "the one above it): choose another job name")
        return name


RESERVED_JOB_NAMES = ("all", "files", "databases", "external")


class MainCore(BaseModel):
    """The ``main:`` section of the article's main configuration file."""

    model_config = _STRICT

    server_name: str = Field(default_factory=lambda: socket.gethostname(), description="names the server in messages")
    admin_mail: list[str] = Field(default=[], description="get a message when something failed")
    client_mail: list[str] = Field(default=[], description="get the log (see level_message)")
    mail_from: str | None = Field(default=None, description="sender address of the messages")
    level_message: Literal["debug", "info", "error"] = Field(
        default="error", description="what clients get: `debug` the full log, `error` only errors"
    )
    block_io_read: str | None = Field(default=None, description="read limit, `10M` or `MAJ:MIN BYTES` (cgroup)")
    block_io_write: str | None = Field(default=None, description="write limit, `10M` or `MAJ:MIN BYTES` (cgroup)")
    blkio_weight: int | None = Field(default=None, ge=10, le=1000, description="IO weight 10..1000 (cgroup)")
    cpu_shares: int | None = Field(default=None, ge=2, le=262144, description="CPU shares (cgroup, 1024=normal)")
    general_path_to_all_tmp_dir: Path = Field(
        default=Path("/var/tmp/corral"), description="parent of every job's tmp_dir, and of the lock file"
    )
    log_file_name: Path | None = Field(default=None, description="log file; stderr only when unset")
    lock_file: Path | None = Field(default=None, description="default: general_path_to_all_tmp_dir/corral.lock")
    lock_wait: float = Field(
        default=0, ge=0, description="minutes to wait for a run that holds the lock before giving up (and notifying)"
    )
    dump_timeout: float | None = Field(
        default=None, gt=0, description="seconds a source may dump before it is stopped and reported failed"
    )
    upload_timeout: float | None = Field(
        default=None, gt=0, description="seconds an archive may take to reach a storage before it is reported failed"
    )
    drill_timeout: float | None = Field(
        default=DRILL_TIMEOUT, ge=0, description="seconds `corral drill` may spend on one target before its programs "
        "are stopped and the target reported failed (default 4 hours; 0: no limit)"
    )
    weekly_backup_day: int = Field(default=7, ge=1, le=7, description="weekday of weekly copies, 1=Mon..7=Sun")
    encrypt: Encrypt | None = Field(
        default=None, description="age recipients every job's archives are encrypted for (a job's own `encrypt` wins)"
    )
    coverage: bool | None = Field(
        default=None, description="at every `corral start`, warn about sites and databases no job backs up "
        "(default: yes when a web server's configuration is found; `no` turns it off)"
    )
    coverage_root: Path = Field(
        default=Path("/"), description="where coverage reads the web servers' configuration and the sites from "
        "(a mounted copy of a server's filesystem; default /)"
    )

    @field_validator("general_path_to_all_tmp_dir", "log_file_name", "lock_file", "coverage_root")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return absolute_path(value)

    _as_lists = field_validator("admin_mail", "client_mail", mode="before")(_as_list)

    @field_validator("block_io_read", "block_io_write", mode="before")
    @classmethod
    def _io_limit(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


#: an argon2 hash in its PHC form, or a bcrypt hash: nothing else (a no-break space pasted with one made every login
#: check against it raise)
_PASSWORD_HASH = re.compile(r"\$argon2(?:id|i)\$v=\d{1,3}\$m=\d{1,10},t=\d{1,10},p=\d{1,3}"
                            r"\$[A-Za-z0-9+/]{8,}\$[A-Za-z0-9+/]{16,}|\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}")


class ConsoleCore(BaseModel):
    """The ``console:`` section: how ``corral console`` serves the fleet page (docs/console.md)."""

    model_config = _STRICT

    listen: str = Field(default="127.0.0.1:8640", description="HOST:PORT to serve on (`[::1]:8640` for IPv6)")
    storages: list[Any] = Field(default=[], description="where the fleet's run records are: storages as in a job, "
                                "`backup_dir` being the folder that holds the jobs' folders (default: every "
                                "storage of this file's jobs)")
    users: dict[str, SecretStr] = Field(default={}, description="login name: password hash (argon2 or bcrypt, "
                                        "from `corral console --hash-password`)")
    proxy_header: str | None = Field(default=None, description="a reverse proxy authenticates: the header naming "
                                     "the user (`X-Remote-User`), believed only from `trusted_proxies`")
    trusted_proxies: list[str] = Field(default=["127.0.0.1", "::1"], description="addresses of the reverse proxy")
    hosts: list[str] = Field(default=[], description="host names the page is reached by, besides the listen "
                             "address and localhost (any other Host header is refused)")
    refresh: float = Field(default=300, ge=5, description="seconds between two readings of the storages")
    stale_hours: float = Field(default=26, gt=0, description="a job whose last success is older is stale")
    session_hours: float = Field(default=12, gt=0, description="a login lasts this long")
    cache_dir: Path = Field(default=Path("/var/cache/corral/console"), description="the console's cache of "
                            "records read (0700)")

    @field_validator("cache_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        absolute_path(value)
        return value

    @field_validator("users")
    @classmethod
    def _hashes(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, hashed in value.items():
            if not re.fullmatch(r"[A-Za-z0-9._@-]{1,64}", name):
                raise ValueError(f"user name `{name[:64]}` must be 1-64 of A-Z a-z 0-9 . _ @ -")
            if not _PASSWORD_HASH.fullmatch(hashed.get_secret_value()):  # a stray byte pasted with it too
                raise ValueError(f"user `{name}`: not an argon2 or bcrypt hash; make one with "
                                 "`corral console --hash-password`")
        return value

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        split_listen(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        import ipaddress

        for item in value:
            try:
                network = ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"`{item}` is not an address or a network (10.0.0.5, 10.0.0.0/24)") from None
            if network.prefixlen == 0:
                raise ValueError(f"`{item}` is every address: anyone could send the user's header")
        return value


def split_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``) as (host, port); ValueError naming what is wrong."""
    match = re.fullmatch(r"\[(?P<v6>[0-9A-Fa-f:.]+)\]:(?P<port>\d{1,5})|(?P<host>[^\s:\[\]]+):(?P<port4>\d{1,5})",
                         value.strip())
    if match is None:
        raise ValueError(f"`{value}` is not HOST:PORT (or [IPV6]:PORT)")
    host = match["v6"] or match["host"]
    port = int(match["port"] or match["port4"])
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range")
    return host, port


@dataclass
class StorageConfig:
    """One validated storage entry of a job."""

    name: str
    enable: bool
    backup_dir: str
    store: Store
    options: StorageOptions
    file: str = "?"
    line: int = 0
    file_mode: int = 0o600  # StorageCore's `file_mode` and `dir_mode`, handed to the storage's put hook
    dir_mode: int = 0o700
    spool: bool = False  # archives reach this storage from a temp file, never as a stream

    def __getattr__(self, key: str) -> Any:
        """Plugin keys read like attributes: ``config.host``."""
        options = self.__dict__.get("options")
        if options is None:
            raise AttributeError(key)
        return getattr(options, key)


@dataclass
class JobConfig:
    """One validated job, as plugins receive it."""

    name: str
    type: str
    tmp_dir: Path
    options: JobOptions | None
    sources: list[SourceOptions]
    storages: list[StorageConfig]
    file: str = "?"
    line: int = 0
    group: str = "files"
    spool: bool = False
    encrypt: Encrypt | None = None  # the job's own, or main's
    drill: Drill | None = None
