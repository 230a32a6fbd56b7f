"""The rules both versions share: values (``ENV:NAME``, passwords), job types and names, retention, storages'
connection keys, sources' keys.

A table maps an nxs-backup key to its corral key; ``None`` drops it, and the reason in :data:`DROPPED` (or a
generic one) becomes a report line naming the file and line.
"""

from __future__ import annotations

import posixpath
import re
import shlex
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from corral.config.models import RESERVED_JOB_NAMES
from corral.discovery.jobs import unique
from corral.migrate.load import Map
from corral.migrate.report import Plan
from corral.targets import safe

SECRET_KEYS = frozenset({"db_password", "password", "secret_access_key", "smtp_password", "oauth_token",
                         "webhook_url"})
TYPES = ("desc_files", "inc_files", "mysql", "mysql_xtradb", "postgresql", "postgresql_hot", "mongodb", "redis",
         "external")
TYPE_ALIASES = {"mysql_xtrabackup": "mysql_xtradb", "mariadb_backup": "mysql_xtradb",
                "postgresql_basebackup": "postgresql_hot", "files": "desc_files", "incr_files": "inc_files"}
# options corral's hot backups set themselves: given again, the tools would get them twice or stream elsewhere
_HOT_OWN_OPTIONS = frozenset({"--stream=tar", "./", "--no-timestamp", "--compact", "-x", "--format=tar", "-D", "-",
                              "-Ft", "--wal-method=fetch"})
DROPPED = {
    "s3fs_opts": "dropped: corral talks to S3 directly, nothing is mounted with s3fs",
    "safety_backup": "dropped: corral rotates before the dump as nxs-backup does by default; a failed dump never "
                     "deletes the newest copy",
    "safe_rotation": "dropped: corral rotates before the dump; the newest copy of a target is never deleted",
    "deferred_copying": "dropped: corral sends each archive to every storage as it is made",
    "deferred_copying_level": "dropped: corral sends each archive to every storage as it is made",
    "save_abs_path": "dropped: corral's file archives hold the paths below each target",
    "prepare_xtrabackup": "dropped: corral stores the backup unprepared; `corral restore` prepares it",
    "batch_deletion": "dropped: corral deletes expired objects in batches where the server allows",
    "connect_count": "dropped: corral uses one FTP connection per upload",
    "rate_limit": "dropped: corral has no network rate limit (block_io_* limit the dumps' disk reads)",
    "connection_timeout": None,  # mapped to `timeout`
}


class Secret(str):
    """A password moved into the credentials folder: the writer turns it into ``!file .../NAME``."""


class EnvRef(str):
    """``ENV:NAME`` of nxs-backup: written as ``!env NAME``."""


def unset(value: Any) -> bool:
    """Empty as the templates leave it (``''``, nothing, ``['']``): the key is not written."""
    return value is None or value == "" or (isinstance(value, list) and all(unset(item) for item in value))


def value(plan: Plan, raw: Any, key: str, owner: str) -> Any:
    """``raw`` as corral writes it: ``ENV:NAME`` as ``!env NAME`` (in any value), a literal password (``key`` one of
    :data:`SECRET_KEYS`) into the credentials folder as ``<owner>.<key>``, lists without their empty items."""
    if isinstance(raw, str) and raw.startswith("ENV:") and len(raw) > 4:
        return EnvRef(raw[4:])
    if isinstance(raw, list):
        return [value(plan, item, key, owner) for item in raw if not unset(item)]
    if key in SECRET_KEYS and not isinstance(raw, dict):
        name = base = safe(f"{owner}.{key}")
        count = 1
        while name in plan.secrets:
            count += 1
            name = f"{base}-{count}"
        plan.secrets[name] = str(raw)
        return Secret(name)
    return raw


def listed(plan: Plan, src: Map, key: str, label: str) -> list[Any]:
    """``src[key]``, a list in nxs-backup; anything else (``storages: 5``, a mapping without its ``-``) is
    reported and read as no item."""
    raw = src.get(key)
    if isinstance(raw, list) or unset(raw):
        return raw or []
    plan.note(src.at(key), f"{label}`{key}` is no list (`- ...` items): left out", user=True)
    return []


def carry(plan: Plan, src: Map, table: Mapping[str, str | None], out: dict[str, Any], owner: str, label: str,
          special: dict[str, Callable[[Any, str], None]] | None = None) -> None:
    """Copy the keys of ``src`` that ``table`` maps into ``out`` (empty ones left out); a key ``special`` handles
    goes to its function (value, where); any other is reported as dropped."""
    for key, raw in src.items():
        where = src.at(key)
        if special and key in special:
            if not unset(raw):
                special[key](raw, where)
            continue
        if key in table:
            target = table[key]
            if target == "":  # the caller's own (job, type, sources...)
                continue
            if target is None:
                if not unset(raw):
                    plan.note(where, f"{label}: `{key}` {DROPPED.get(key) or 'has no corral counterpart: dropped'}")
                continue
            if not unset(raw):  # a password as written: `0123` is no octal 83, `yes` no True
                out[target] = value(plan, src.texts.get(key, raw) if target in SECRET_KEYS else raw, target, owner)
            continue
        if not unset(raw):
            plan.note(where, f"{label}: unknown key `{key}` dropped (not an nxs-backup key corral migrate knows)")


def job_type(plan: Plan, raw: Any, where: str, label: str) -> str:
    """corral's type for an nxs-backup one; a type corral does not have is kept (``corral check`` names it)."""
    name = str(raw or "")
    if name in TYPES:
        return name
    if name in TYPE_ALIASES:
        plan.note(where, f"{label}: `type: {name}` is corral's `{TYPE_ALIASES[name]}`")
        return TYPE_ALIASES[name]
    plan.note(where, f"{label}: corral has no job type `{name}`: kept as it is; write the job as `external` "
                     "(a script that makes the archive) or remove it", user=True)
    return name


def job_name(plan: Plan, raw: Any, where: str, taken: set[str]) -> str:
    """A unique job name; the names ``corral start`` reserves get ``-job``, a name that cannot name the job's
    folder (``..``, ``a/b``, a line break) is made file-safe (reported)."""
    name = str(raw or "job")
    new = name
    folder = name in (".", "..") or any(char in name for char in "/\\\0") or not name.isprintable()
    if folder:
        new = safe(name)
    if new in RESERVED_JOB_NAMES:
        new = f"{name}-job"
    new = unique(new, taken)
    if new != name:
        why = ("cannot name a folder" if folder else "is a name `corral start` reserves"
               if name in RESERVED_JOB_NAMES else "is taken by another job")
        plan.note(where, f"job `{name}` {why}: named `{new}`; its archives go to `<backup_dir>/{new}/`")
    taken.add(new)
    return new


def job_head(plan: Plan, raw: Map, name_key: str, table: Mapping[str, str | None],
             taken: set[str]) -> tuple[str, str, dict[str, Any]]:
    """A job's name, its label for report lines, and its first keys (``job``, ``type``, what ``table`` maps)."""
    name = job_name(plan, raw.get(name_key), raw.at(name_key), taken)
    label = f"job `{name}`"
    data: dict[str, Any] = {"job": name, "type": job_type(plan, raw.get("type"), raw.at("type"), label)}
    carry(plan, raw, table, data, name, label)
    return name, label, data


def store(plan: Plan, raw: Any, where: str, label: str, *, count: bool = False,
          defaults: dict[str, int] | None = None) -> dict[str, Any] | None:
    """corral's ``store`` from ``store``/``retention``: ``month``/``months`` -> ``months``. Counting retention
    (2.x's folders, 3.x's ``count_instead_of_period``) is reported with its corral equivalent."""
    result: dict[str, Any] = dict(defaults or {})
    if isinstance(raw, Map):
        for key, item in raw.items():
            if key in ("days", "weeks", "months", "month") and not unset(item):
                result["months" if key == "month" else key] = item
            elif key == "count_instead_of_period" and item is True:
                plan.note(raw.at(key), f"{label}: `count_instead_of_period` dropped: corral keeps the copies of the "
                          "last `days` days (and the first of `weeks` weeks, `months` months), not a number of "
                          "files; with one run a day that is the same, with R runs a day keep `days: N/R`")
            elif key != "count_instead_of_period" and not unset(item):
                plan.note(raw.at(key), f"{label}: retention key `{key}` dropped")
    if count and result and "count" not in plan.once:
        plan.once.add("count")
        plan.note(where, f"{label}: retention (and every other `store` of this configuration): nxs-backup kept "
                  "the newest N files of each daily/weekly/monthly folder, corral keeps by the date in each name: "
                  "the same with one run a day")
    return result or None


def extra_keys_hot(plan: Plan, raw: Any, where: str, label: str) -> str | None:
    """A hot backup's ``extra_keys`` without the options corral's plugin sets itself (reported)."""
    words = str(raw).split()
    kept = [word for word in words if word not in _HOT_OWN_OPTIONS]
    if len(kept) != len(words):
        dropped = " ".join(word for word in words if word in _HOT_OWN_OPTIONS)
        plan.note(where, f"{label}: `extra_keys`: `{dropped}` left out: corral's plugin streams the backup itself")
    return " ".join(kept) or None


def url_login(plan: Plan, out: dict[str, Any], owner: str, where: str, label: str) -> None:
    """``url``'s ``user:password@`` taken out: the password into the credentials folder (``!file``), the user into
    ``user``, unless the storage gives them itself."""
    try:
        parts = urllib.parse.urlsplit(str(out.get("url", "")))
    except ValueError:
        return
    if parts.password is None:
        return
    out["url"] = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    if "user" not in out and parts.username:
        out["user"] = urllib.parse.unquote(parts.username)
    if "password" not in out:
        out["password"] = value(plan, urllib.parse.unquote(parts.password), "password", owner)
    plan.note(where, f"{label}: the password in `url` moved into credentials/ (`password: !file`)")


def s3_endpoint(options: str) -> str | None:
    """The endpoint an s3fs option string names (``-o url=https://...``), if any."""
    found = re.search(r"\burl=([^\s,]+)", options)
    return found[1] if found else None


def ssh_known_hosts(plan: Plan, out: dict[str, Any], where: str, label: str) -> None:
    """nxs-backup never checked SSH host keys; corral does: a ``known_hosts`` file beside the main file, for the
    user to fill."""
    known_hosts = str(plan.to_dir.absolute() / "known_hosts")
    out["known_hosts"] = known_hosts
    host, port = out.get("host", "HOST"), out.get("port", 22)
    keyscan = f"ssh-keyscan -p {shlex.quote(str(port))} {shlex.quote(str(host))} >> {shlex.quote(known_hosts)}"
    plan.note(where, f"{label}: nxs-backup did not check the SSH host key, corral does: create `{known_hosts}` "
              f"with `{keyscan}` (check the fingerprint)", user=True)


def archives(plan: Plan, job: dict[str, Any], where: str, folder: str) -> None:
    """Where nxs-backup left the job's archives and how corral takes them over (one line per job)."""
    dirs = sorted({_folder(storage) for storage in job.get("storages", []) if storage.get("backup_dir")})
    if not dirs:
        return
    name = job["job"]
    if job.get("type") == "inc_files":
        plan.note(where, f"job `{name}`: nxs-backup's incremental chains in {', '.join(dirs)} are not continued: "
                  "corral starts its own chain (a full level); keep the old folders until it covers a year")
        return
    inner = "/<target>" if folder == "<source name>" else ""
    moves = "; ".join(f"`mkdir -p {shlex.quote(posixpath.join(d, name))} && mv {shlex.quote(posixpath.join(d, ''))}"
                      f"{folder}{'/*' if inner else ''} {shlex.quote(posixpath.join(d, name, ''))}`" for d in dirs)
    plan.note(where, f"job `{name}`: nxs-backup's archives are in `<backup_dir>/{folder}{inner}/daily|weekly|monthly/`"
              f", corral's in `<backup_dir>/{name}/<target>/`: move them ({moves}, for each {folder[1:-1]}) and "
              "corral rotates, lists and restores the old copies too")


def _folder(storage: dict[str, Any]) -> str:
    """A storage's backup_dir as the user finds it to move archives: on an NFS server, inside the export."""
    folder = str(storage["backup_dir"])
    if storage.get("storage") == "nfs" and storage.get("export"):
        folder = posixpath.join(str(storage["export"]), folder.lstrip("/"))
    return folder.rstrip("/") or "/"
