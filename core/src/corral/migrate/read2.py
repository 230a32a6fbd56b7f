"""nxs-backup 2.x (the Python tool of the article): ``main:``, ``jobs: !include [conf.d/*.conf]``, each job's
``sources`` and ``storages`` with their connection keys. Most keys are corral's own; this maps the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from corral.migrate import load
from corral.migrate.load import Include, Map
from corral.migrate.mapping import (
    archives,
    carry,
    extra_keys_hot,
    job_head,
    listed,
    s3_endpoint,
    ssh_known_hosts,
    store,
    url_login,
)
from corral.migrate.report import Job, Plan

_MAIN = {key: key for key in (
    "server_name", "admin_mail", "client_mail", "mail_from", "level_message", "block_io_read", "block_io_write",
    "blkio_weight", "general_path_to_all_tmp_dir", "cpu_shares", "log_file_name", "smtp_server", "smtp_port",
    "smtp_ssl", "smtp_tls", "smtp_user", "smtp_password", "smtp_timeout", "lock_file", "lock_wait",
    "weekly_backup_day")} | {"log_file": "log_file_name"}
_CONNECT = {key: key for key in ("db_host", "db_port", "socket", "db_user", "db_password", "auth_file")} | {
    "path_to_conf": "auth_file"}
_SOURCE = {key: key for key in ("target", "excludes", "gzip", "is_slave", "extra_keys")} | {
    "target_dbs": "target", "exclude_dbs": "excludes", "exclude_collections": "exclude_collections"}
_STORAGE_COMMON = {"storage": "storage", "enable": "enable", "backup_dir": "backup_dir"}
_STORAGES: dict[str, dict[str, str | None]] = {
    "local": {},
    "scp": {"user": "user", "host": "host", "port": "port", "password": "password", "path_to_key": "path_to_key",
            "remote_mount_point": ""},
    "ftp": {"host": "host", "port": "port", "user": "user", "password": "password"},
    "smb": {"host": "host", "port": "port", "share": "share", "user": "user", "password": "password"},
    "webdav": {"host": "host", "port": "port", "user": "user", "password": "password"},
    "nfs": {"host": "host", "extra_keys": None, "remote_mount_point": ""},
    "s3": {"bucket_name": "bucket", "access_key_id": "access_key_id", "secret_access_key": "secret_access_key",
           "s3fs_opts": None},
}
_JOB = {"job": "", "type": "", "tmp_dir": "tmp_dir", "dump_cmd": "dump_cmd", "sources": "",
        "storages": "", "safety_backup": None, "deferred_copying_level": None}


def convert(raw: Any, path: Path, plan: Plan) -> Plan:
    """Fill ``plan`` from a 2.x main file (or a job file: a list of jobs)."""
    plan.files.append(str(path))
    _comments(plan, path)
    if isinstance(raw, list):  # a conf.d file given alone
        _jobs(plan, raw, path, set())
        return plan
    if not isinstance(raw, Map):
        raise load.MigrateError(f"{path}:1: an nxs-backup 2.x file is a mapping with `main:` and `jobs:`")
    for key in raw:
        if key not in ("main", "jobs"):
            plan.note(raw.at(key), f"unknown top-level key `{key}` dropped")
    main = raw.get("main")
    if isinstance(main, Map):
        carry(plan, main, _MAIN, plan.main, "main", "main")
        if "log_file" in main and main.get("log_file"):
            plan.note(main.at("log_file"), "main: `log_file` is corral's `log_file_name`")
    jobs = raw.get("jobs")
    taken: set[str] = set()
    if isinstance(jobs, Include):
        for job_file in load.matches(jobs.patterns, path.parent):
            plan.files.append(str(job_file))
            _comments(plan, job_file)
            _jobs(plan, load.read(job_file), job_file, taken)
    elif isinstance(jobs, list):
        _jobs(plan, jobs, path, taken)
    return plan


def _comments(plan: Plan, path: Path) -> None:
    count = load.comments(path)
    if count:
        plan.note(f"{path}:1", f"{count} comment line(s) not carried over: PyYAML, which corral reads YAML with, "
                  "drops comments (ruamel.yaml is not installed); copy them by hand if they matter")


def _jobs(plan: Plan, raw: Any, path: Path, taken: set[str]) -> None:
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, Map) else []
    for item in items:
        if not isinstance(item, Map):
            plan.note(f"{path}:1", "an item that is not a job (`- job: NAME`) was left out")
            continue
        plan.jobs.append(_job(plan, item, taken))


def _job(plan: Plan, raw: Map, taken: set[str]) -> Job:
    name, label, data = job_head(plan, raw, "job", _JOB, taken)
    kind = data["type"]
    sources = raw.get("sources")
    if isinstance(sources, list) and kind != "external":
        data["sources"] = [_source(plan, item, kind, name, label) for item in sources if isinstance(item, Map)]
    if "tmp_dir" in data:  # put it after type, as the templates do
        data = {"job": name, "type": kind, "tmp_dir": data.pop("tmp_dir"), **data}
    data["storages"] = [_storage(plan, item, kind, name, label)
                        for item in listed(plan, raw, "storages", f"{label}: ") if isinstance(item, Map)]
    archives(plan, data, raw.at("job"), "<target>")
    return Job(name, data, raw.at("job"))


def _source(plan: Plan, raw: Map, kind: str, job: str, label: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    connect = raw.get("connect")

    def hot_keys(value: Any, where: str) -> None:
        kept = extra_keys_hot(plan, value, where, label)
        if kept:
            out["extra_keys"] = kept

    def collections(value: Any, where: str) -> None:
        if value != ["all"]:
            plan.note(where, f"{label}: `target_collections` dropped: corral dumps every collection of a database; "
                      "leave out the others with `exclude_collections`")

    special: dict[str, Any] = {"connect": lambda value, where: None, "target_collections": collections}
    if kind in ("mysql_xtradb", "postgresql_hot"):
        special["extra_keys"] = hot_keys
    if kind == "mongodb":
        special["extra_keys"] = lambda value, where: plan.note(
            where, f"{label}: `extra_keys` dropped: corral's mongodb plugin takes no extra mongodump options")
    if isinstance(connect, Map):
        conn: dict[str, Any] = {}
        carry(plan, connect, _CONNECT, conn, job, label)
        if "path_to_conf" in connect and connect.get("path_to_conf"):
            plan.note(connect.at("path_to_conf"), f"{label}: `path_to_conf` is read as corral's `auth_file` "
                      "(a my.cnf with [client] user and password)")
        if conn:
            out["connect"] = conn
    carry(plan, raw, _SOURCE, out, job, label, special)
    for key in ("target_dbs", "exclude_dbs"):
        if key in raw and raw.get(key) not in ("", None):
            plan.note(raw.at(key), f"{label}: `{key}` is corral's `{_SOURCE[key]}`")
    return out


def _storage(plan: Plan, raw: Map, kind: str, job: str, label: str) -> dict[str, Any]:
    storage = str(raw.get("storage") or "")
    table = _STORAGES.get(storage)
    out: dict[str, Any] = {}
    if table is None:
        plan.note(raw.at("storage"), f"{label}: corral has no storage `{storage}`: kept as it is", user=True)
        table = {}
    special: dict[str, Any] = {"store": lambda value, where: None}
    if storage == "s3":
        special["s3fs_opts"] = lambda value, where: _s3fs(plan, value, where, label, out)
    carry(plan, raw, {**_STORAGE_COMMON, **table}, out, f"{job}.{storage}", f"{label}: storage `{storage}`",
          special)
    if storage == "scp":
        ssh_known_hosts(plan, out, raw.at("storage"), f"{label}: storage `scp`")
    if storage == "nfs":
        _nfs(plan, raw, out, label)
    if storage == "scp":
        _scp_folder(plan, raw, out, label)
    if storage == "webdav":
        _webdav(plan, raw, out, label, job)
    if kind == "inc_files":
        if "store" in raw and store(plan, raw.get("store"), raw.at("store"), label):
            plan.note(raw.at("store"), f"{label}: `store` dropped: corral's inc_files keeps its yearly chains "
                      "itself, as nxs-backup did")
    elif "store" in raw:
        kept = store(plan, raw.get("store"), raw.at("store"), f"{label}: storage `{storage}`", count=True)
        if kept:
            out["store"] = kept
    return out


def _s3fs(plan: Plan, options: Any, where: str, label: str, out: dict[str, Any]) -> None:
    endpoint = s3_endpoint(str(options))
    if endpoint:
        out["endpoint_url"] = endpoint
        plan.note(where, f"{label}: `s3fs_opts` dropped (corral talks to S3 directly); its `url=` is `endpoint_url`")
    else:
        plan.note(where, f"{label}: `s3fs_opts` dropped: corral talks to S3 directly (set `endpoint_url` and "
                  "`region` when the bucket is not on AWS)")


def _nfs(plan: Plan, raw: Map, out: dict[str, Any], label: str) -> None:
    """2.x ran ``mount -t nfs HOST:REMOTE_MOUNT_POINT /mnt/nfs`` (``remote_mount_point`` defaults to backup_dir)
    and wrote below the mount; corral's nfs plugin talks to that export and writes into it (``backup_dir: /``)."""
    host = str(out.get("host", ""))
    where = raw.at("host")
    if not host:
        plan.note(where, f"{label}: NFS storage without `host`: set `host` and `export`", user=True)
        return
    remote = raw.get("remote_mount_point") or out.get("backup_dir") or "/"
    if ":" in host and host.split(":", 1)[1].startswith("/"):  # a whole `HOST:/PATH` in `host`
        host, remote = host.split(":", 1)
    out["host"], out["export"], out["backup_dir"] = host, str(remote), "/"
    plan.note(where, f"{label}: 2.x mounted `{host}:{remote}` and wrote into it: corral's `export: {remote}`, "
              "`backup_dir: /`")


def _scp_folder(plan: Plan, raw: Map, out: dict[str, Any], label: str) -> None:
    """2.x mounted ``HOST:REMOTE_MOUNT_POINT`` with sshfs and wrote below it: that is corral's backup_dir."""
    remote = raw.get("remote_mount_point")
    if remote:
        out["backup_dir"] = str(remote)
        plan.note(raw.at("remote_mount_point"), f"{label}: 2.x wrote below `remote_mount_point` `{remote}` on "
                  "the server: corral's `backup_dir`")


def _webdav(plan: Plan, raw: Map, out: dict[str, Any], label: str, job: str) -> None:
    """2.x mounted ``HOST:PORT`` with davfs2, HOST being a URL: corral's ``url``."""
    host = str(out.get("host", ""))
    if host.startswith(("http://", "https://")):
        out["url"] = f"{host}:{out.pop('port')}" if out.get("port") else host
        del out["host"]
        plan.note(raw.at("host"), f"{label}: davfs2's `host:port` is corral's `url: {out['url']}`")
        url_login(plan, out, f"{job}.webdav", raw.at("host"), f"{label}: storage `webdav`")
