"""nxs-backup 3.x (the Go rewrite): top-level settings, ``storage_connects`` with ``*_params``, jobs with
``job_name``, ``sources`` (``targets``/``target_dbs``, ``db_extra_keys``) and ``storages_options``
(``storage_name``, ``backup_path``, ``retention``), ``include_jobs_configs``."""

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
    ssh_known_hosts,
    store,
    unset,
    url_login,
    value,
)
from corral.migrate.read2 import _comments
from corral.migrate.report import Job, Plan

_WHERE = "\0where"  # a connection's file:line, kept beside its keys until a job uses it
RETENTION_DEFAULTS = {"days": 7, "weeks": 5, "months": 12}  # 3.x's own, for a `retention` that leaves one out
_CONNECTS: dict[str, tuple[str, dict[str, str | None]]] = {
    "s3_params": ("s3", {"bucket_name": "bucket", "access_key_id": "access_key_id",
                         "secret_access_key": "secret_access_key", "endpoint": None, "region": "region",
                         "secure": None, "batch_deletion": None}),
    "scp_params": ("scp", {"host": "host", "port": "port", "user": "user", "password": "password",
                           "key_file": "path_to_key", "connection_timeout": "timeout"}),
    "sftp_params": ("sftp", {"host": "host", "port": "port", "user": "user", "password": "password",
                             "key_file": "path_to_key", "connection_timeout": "timeout"}),
    "smb_params": ("smb", {"host": "host", "port": "port", "user": "user", "password": "password",
                           "share": "share", "domain": "domain", "connection_timeout": "timeout"}),
    "nfs_params": ("nfs", {"host": "host", "target": "export", "uid": "uid", "gid": "gid", "UID": "uid",
                           "GID": "gid", "port": None}),
    "webdav_params": ("webdav", {"url": "url", "username": "user", "password": "password", "oauth_token": None,
                                 "connection_timeout": "timeout"}),
    "ftp_params": ("ftp", {"host": "host", "port": "port", "user": "user", "password": "password",
                           "connection_timeout": "timeout", "connect_count": None}),
}
_CONNECT = {key: key for key in ("db_host", "db_port", "socket", "db_user", "db_password")} | {
    "mysql_auth_file": "auth_file", "auth_file": "auth_file"}
_SOURCE = {"name": "name", "targets": "target", "target_dbs": "target", "target": "target", "excludes": "excludes",
           "exclude_dbs": "excludes", "exclude_collections": "exclude_collections", "gzip": "gzip",
           "is_slave": "is_slave", "db_extra_keys": "extra_keys", "save_abs_path": None, "prepare_xtrabackup": None}
_JOB = {"job_name": "", "type": "", "tmp_dir": "tmp_dir", "dump_cmd": "dump_cmd", "sources": "",
        "storages_options": "", "safety_backup": None, "safe_rotation": None, "deferred_copying": None}
_TOP = ("server_name", "project_name", "loglevel", "logfile", "notifications", "storage_connects",
        "storage_connections", "jobs", "include_jobs_configs", "include_job_configs", "server", "limits")


def convert(raw: Any, path: Path, plan: Plan) -> Plan:
    """Fill ``plan`` from a 3.x main file (or one job file)."""
    plan.files.append(str(path))
    _comments(plan, path)
    if not isinstance(raw, Map):
        raise load.MigrateError(f"{path}:1: an nxs-backup 3.x file is a mapping (`server_name`, `jobs`...)")
    if "job_name" in raw:  # a conf.d file given alone
        plan.jobs.append(_job(plan, raw, {}, set()))
        return plan
    if isinstance(raw.get("jobs"), Include):
        raise load.MigrateError(f"{raw.at('jobs')}: nxs-backup 3.x has no `!include`: name the job files in "
                                "`include_jobs_configs`")
    _main(plan, raw)
    connects = _connects(plan, raw)
    taken: set[str] = set()
    for item in listed(plan, raw, "jobs", ""):
        if isinstance(item, Map):
            plan.jobs.append(_job(plan, item, connects, taken))
    for key in ("include_jobs_configs", "include_job_configs"):
        patterns = raw.get(key)
        if unset(patterns):
            continue
        for job_file in load.matches([str(p) for p in (patterns if isinstance(patterns, list) else [patterns])],
                                     path.parent):
            plan.files.append(str(job_file))
            _comments(plan, job_file)
            loaded = load.read(job_file)
            for item in loaded if isinstance(loaded, list) else [loaded]:
                if isinstance(item, Map):
                    plan.jobs.append(_job(plan, item, connects, taken))
    return plan


def _main(plan: Plan, raw: Map) -> None:
    main = plan.main
    for key, item in raw.items():
        where = raw.at(key)
        if key not in _TOP:
            plan.note(where, f"unknown top-level key `{key}` dropped")
        elif unset(item) or key in ("jobs", "storage_connects", "storage_connections", "include_jobs_configs",
                                    "include_job_configs"):
            continue
        elif key == "server_name":
            main["server_name"] = value(plan, item, key, "main")
        elif key == "logfile":
            if str(item) in ("stdout", "stderr", "/dev/stdout", "/dev/stderr"):
                plan.note(where, f"`logfile: {item}` dropped: corral always logs to stderr")
            else:
                main["log_file_name"] = value(plan, item, key, "main")
        elif key == "project_name":
            plan.note(where, "`project_name` dropped: corral's messages name the server (`server_name`)")
        elif key == "loglevel":
            plan.note(where, "`loglevel` dropped: `corral start -v` logs everything, `-q` nothing on the terminal; "
                      "the log file gets every level")
        elif key == "server":
            plan.note(where, "`server` (metrics) dropped: install corral-notifier-prometheus for metrics")
        elif key == "limits":
            plan.note(where, "`limits` dropped: set main's `block_io_read`/`block_io_write` for disk rates; corral "
                      "has no network rate limit")
        elif key == "notifications" and isinstance(item, Map):
            _notifications(plan, item)


def _notifications(plan: Plan, raw: Map) -> None:
    mail = raw.get("mail")
    if isinstance(mail, Map):
        if mail.get("enabled") is True:
            table: dict[str, str | None] = {"enabled": None, "mail_from": "mail_from", "smtp_server": "smtp_server",
                                            "smtp_port": "smtp_port", "smtp_user": "smtp_user",
                                            "smtp_password": "smtp_password", "recipients": "admin_mail",
                                            "smtp_timeout": "smtp_timeout"}
            carry(plan, mail, table, plan.main, "main", "notifications.mail", {
                "message_level": lambda item, where: _level(plan, item, where)})
            plan.note(mail.at(), "notifications.mail: `recipients` are corral's `admin_mail` (mail when something "
                      "failed); add `client_mail` for the full log")
        elif any(not unset(item) for key, item in mail.items() if key != "enabled"):
            plan.note(mail.at(), "notifications.mail is disabled: not carried over")
    urls: list[Any] = []
    for hook in listed(plan, raw, "webhooks", "notifications: "):
        if not isinstance(hook, Map) or unset(hook.get("webhook_url")):
            continue
        urls.append(value(plan, hook.get("webhook_url"), "webhook_url", "main"))
        if str(hook.get("message_level", "")).lower() in ("error", "warning"):
            plan.main["webhook_level"] = "errors"
        for key in hook:
            if key not in ("webhook_url", "message_level") and not unset(hook.get(key)):
                plan.note(hook.at(key), f"notifications.webhooks: `{key}` dropped: corral-notifier-webhook sends "
                          "its JSON report (`webhook_template` shapes it, `webhook_headers` adds headers)")
    if urls:
        plan.main["webhook_urls"] = urls


def _level(plan: Plan, item: Any, where: str) -> None:
    level = str(item).lower()
    plan.main["level_message"] = "debug" if level in ("debug", "info") else "error"
    if level not in ("debug", "info", "error"):
        plan.note(where, f"notifications.mail: `message_level: {item}` is corral's `level_message: error`")


def _connects(plan: Plan, raw: Map) -> dict[str, dict[str, Any]]:
    """storage_connects (or storage_connections): name -> corral storage keys, without backup_dir and store."""
    found: dict[str, dict[str, Any]] = {}
    for key in ("storage_connects", "storage_connections"):
        for item in listed(plan, raw, key, ""):
            if not isinstance(item, Map):
                continue
            name = str(item.get("name") or "")
            out: dict[str, Any] = {}
            for params_key, params in item.items():
                if params_key == "name":
                    continue
                if params_key == "rate_limit":
                    carry(plan, item, {"rate_limit": None}, out, name, f"storage `{name}`")
                    continue
                kind = _CONNECTS.get(params_key)
                if kind is None or not isinstance(params, Map):
                    plan.note(item.at(params_key), f"storage `{name}`: unknown key `{params_key}` dropped")
                    continue
                out["storage"] = kind[0]
                label = f"storage `{name}`"
                carry(plan, params, kind[1], out, name, label, _special(plan, kind[0], params, out, label))
                out[_WHERE] = params.at()
                if kind[0] == "webdav":
                    url_login(plan, out, name, params.at("url"), label)
                if kind[0] == "nfs":
                    out["version"] = "3"
                    plan.note(params.at(), f"{label}: nxs-backup 3.x speaks NFSv3: `version: '3'`")
            if "storage" in out:
                found[name] = out
    return found


def _special(plan: Plan, kind: str, params: Map, out: dict[str, Any], label: str) -> dict[str, Any]:
    if kind == "s3":
        def endpoint(item: Any, where: str) -> None:
            text = str(item)
            if "://" not in text:
                scheme = "http" if params.get("secure") is False else "https"
                text = f"{scheme}://{text}"
            out["endpoint_url"] = text
        return {"endpoint": endpoint}

    def url(item: Any, where: str) -> None:
        out["url"] = item
        if not str(item).startswith(("http://", "https://")):
            plan.note(where, f"{label}: `url: {item}` is no http:// or https:// URL: write the WebDAV URL",
                      user=True)

    if kind == "nfs":
        def target(item: Any, where: str) -> None:
            out["export"] = str(item) if str(item).startswith("/") else f"/{item}"
            if not str(item).startswith("/"):
                plan.note(where, f"{label}: `target: {item}` is export `/{item}` (corral names exports from the "
                          "server's root); check it with `showmount -e HOST`")

        def port(item: Any, where: str) -> None:
            if str(item) != "111":
                out["port"] = item
            else:
                plan.note(where, f"{label}: `port: 111` is rpcbind's: corral finds NFSv3 through it by itself")
        return {"port": port, "target": target}
    if kind == "webdav":
        def token(item: Any, where: str) -> None:
            plan.note(where, f"{label}: `oauth_token` dropped: corral's webdav logs in with `user` and "
                      "`password`")
        return {"oauth_token": token, "url": url}
    return {}


def _job(plan: Plan, raw: Map, connects: dict[str, dict[str, Any]], taken: set[str]) -> Job:
    name, label, data = job_head(plan, raw, "job_name", _JOB, taken)
    kind = data["type"]
    sources = raw.get("sources")
    if kind == "external":
        if not unset(sources):
            plan.note(raw.at("sources"), f"{label}: `sources` dropped: an external job is its `dump_cmd`")
    elif isinstance(sources, list):
        data["sources"] = [_source(plan, item, kind, name, label) for item in sources if isinstance(item, Map)]
    storages = []
    for item in listed(plan, raw, "storages_options", f"{label}: "):
        if isinstance(item, Map):
            storage = _storage(plan, item, kind, connects, label)
            if storage is not None:
                storages.append(storage)
    data["storages"] = storages
    archives(plan, data, raw.at("job_name"), "<target>" if kind == "external" else "<source name>")
    return Job(name, data, raw.at("job_name"))


def _source(plan: Plan, raw: Map, kind: str, job: str, label: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    table_excludes: list[str] = []

    def connect(item: Any, where: str) -> None:
        if not isinstance(item, Map):
            return
        conn: dict[str, Any] = {}
        tls = {key: item.get(key) for key in item if key.startswith("psql_ssl")}
        carry(plan, item, _CONNECT, conn, job, label,
              {key: (lambda value_, where_: None) for key in tls})
        for key in ("db_port",):
            if isinstance(conn.get(key), str) and conn[key].isdigit():
                conn[key] = int(conn[key])
        if any(not unset(v) for v in tls.values()):
            mode = tls.get("psql_ssl_mode") or "require"
            plan.note(item.at(next(iter(tls))), f"{label}: `psql_ssl_*` dropped: corral's postgresql plugin has no "
                      f"TLS keys; libpq reads them from the environment of corral's run (`PGSSLMODE={mode}`, "
                      "`PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`)")
        if conn:
            out["connect"] = conn

    def excludes(item: Any, where: str) -> None:
        names = [str(x) for x in item] if isinstance(item, list) else [str(item)]
        databases = [x for x in names if "." not in x]
        table_excludes.extend(x for x in names if "." in x)
        if databases:
            out.setdefault("excludes", []).extend(databases)
        if table_excludes and kind == "mysql":
            ignore = " ".join(f"--ignore-table={x}" for x in table_excludes)
            plan.note(where, f"{label}: table excludes {', '.join(table_excludes)} become `extra_keys` `{ignore}`")
        elif table_excludes and kind == "mysql_xtradb":
            plan.note(where, f"{label}: table excludes {', '.join(table_excludes)} become `extra_keys` "
                      f"`--tables-exclude=...`")
        elif table_excludes:
            plan.note(where, f"{label}: excludes {', '.join(table_excludes)} dropped: corral leaves out whole "
                      "databases; for a table add `--exclude-table=SCHEMA.TABLE` to `extra_keys`")

    def collections(item: Any, where: str) -> None:
        if item != ["all"]:
            plan.note(where, f"{label}: `target_collections` dropped: corral dumps every collection of a database; "
                      "leave out the others with `exclude_collections`")

    special: dict[str, Any] = {"connect": connect, "excludes": excludes, "target_collections": collections}
    if kind in ("mysql_xtradb", "postgresql_hot"):
        def hot(item: Any, where: str) -> None:
            kept = extra_keys_hot(plan, item, where, label)
            if kept:
                out["extra_keys"] = kept
        special["db_extra_keys"] = hot
    carry(plan, raw, _SOURCE, out, job, label, special)
    if table_excludes and kind == "mysql":
        out["extra_keys"] = " ".join([str(out.get("extra_keys") or ""),
                                      *(f"--ignore-table={x}" for x in table_excludes)]).strip()
    elif table_excludes and kind == "mysql_xtradb":
        out["extra_keys"] = f"{out.get('extra_keys') or ''} --tables-exclude={'|'.join(table_excludes)}".strip()
    if kind in ("desc_files", "inc_files") and "name" in out:
        out["name"] = str(out["name"])
    return out


def _storage(plan: Plan, raw: Map, kind: str, connects: dict[str, dict[str, Any]], label: str) -> dict[str, Any] | None:
    name = str(raw.get("storage_name") or "")
    where = raw.at("storage_name")
    if name == "local":
        out: dict[str, Any] = {"storage": "local"}
    elif name in connects:
        out = {"storage": connects[name]["storage"]}
    else:
        plan.note(where, f"{label}: storage `{name}` is not in `storage_connects`: left out; add it by hand")
        return None
    slabel = f"{label}: storage `{name}`"
    carry(plan, raw, {"storage_name": "", "backup_path": "backup_dir"}, out, name, slabel,
          {"retention": lambda item, w: None, "enable_rotate": lambda item, w: None})
    if name != "local":
        connect = connects[name]
        out.update({key: item for key, item in connect.items() if key not in ("storage", _WHERE)})
        if out["storage"] in ("scp", "sftp") and f"ssh:{name}" not in plan.once:
            plan.once.add(f"ssh:{name}")
            ssh_known_hosts(plan, connect, connect[_WHERE], f"storage `{name}`")
        if "known_hosts" in connect:
            out["known_hosts"] = connect["known_hosts"]
    if kind == "inc_files":
        if not unset(raw.get("retention")):
            plan.note(raw.at("retention"), f"{slabel}: `retention` dropped: corral's inc_files keeps its yearly "
                      "chains itself")
    elif raw.get("enable_rotate") is False:
        plan.note(raw.at("enable_rotate"), f"{slabel}: `enable_rotate: false`: no `store`, corral deletes nothing "
                  "there")
    else:
        retention = raw.get("retention")
        missing = [key for key in RETENTION_DEFAULTS if not isinstance(retention, Map) or key not in retention]
        if missing:
            plan.note(raw.at("retention") if retention is not None else where,
                      f"{slabel}: retention {', '.join(missing)} not given: 3.x's defaults written "
                      f"({', '.join(f'{k}: {RETENTION_DEFAULTS[k]}' for k in missing)})")
        kept = store(plan, retention, where, slabel, defaults={k: RETENTION_DEFAULTS[k] for k in missing})
        if kept:
            out["store"] = kept
    return out
