"""Secrets never leave corral: a dump tool that echoes a password, and every notifier at once, on real servers."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from corral.masking import MASK
from corral.testing.cli import corral, local_storage, write_main
from corral.testing.notify import HTTPSink
from corral_testservers import SMTPServer
from tests.conftest import script

SHORT = "q7Z"  # a 3-character secret: masked like any other, ordinary text included


def test_a_password_echoed_by_a_failing_dump_reaches_no_output(
    tmp_path: Path, smtp_auth_server: SMTPServer, http_sink: HTTPSink
) -> None:
    password = smtp_auth_server.password
    assert password is not None and len(password) > 8
    # a dump tool that fails and prints the secrets it was given, as a pg_dump with a connection string would
    echo = f"""echo 'pg_dump: error: connection to "postgresql://app:{password}@db/shop?key={SHORT}" failed' >&2"""
    dump = script(tmp_path / "dump.sh", f"{echo}\nexit 1\n")
    name = f"web-{uuid.uuid4().hex[:8]}"  # the SMTP server is shared by the session: our messages carry this name
    textfile = tmp_path / "node_exporter" / "corral.prom"
    textfile.parent.mkdir()
    main = write_main(
        tmp_path,
        [{"job": "shop-db", "type": "external", "dump_cmd": dump,
          "storages": [local_storage(tmp_path / f"backups-{SHORT}")]}],
        server_name=name, admin_mail=["ops@example.org"], mail_from="backup@example.org",
        smtp_server=smtp_auth_server.host, smtp_port=smtp_auth_server.port, smtp_user=smtp_auth_server.user,
        smtp_password=password, smtp_timeout=10,
        webhook_urls=[f"{http_sink.url}/hooks"], webhook_headers={"X-Key": SHORT},
        healthcheck_url=f"{http_sink.url}/ping",
        apprise_urls=[http_sink.url.replace("http://", "json://") + "/apprise"],
        prometheus_textfile=str(textfile),
    )  # fmt: skip
    done = corral("start", "-c", str(main), env={"CORRAL_NOW": "2026-01-31T03:00:00"}, timeout=120)
    assert done.returncode == 1, done.stderr
    bodies = {request.path: request.body.decode() for request in http_sink.requests}
    assert set(bodies) == {"/ping/start", "/hooks", "/ping/fail", "/apprise"}, bodies
    outputs = {
        "stdout": done.stdout,
        "stderr": done.stderr,
        "log file": (tmp_path / "log" / "corral.log").read_text(),
        "e-mail": _mail(smtp_auth_server, name),
        "webhook": bodies["/hooks"],
        "dead-man ping": bodies["/ping/fail"],
        "apprise": json.loads(bodies["/apprise"])["message"],
        "prometheus": textfile.read_text(),
    }
    for where, text in outputs.items():
        assert password not in text and SHORT not in text, f"a secret reached the {where}:\n{text}"
        if where != "stderr":  # the log on stderr names neither the failure's storage nor its folder
            assert MASK in text, f"no mask in the {where}:\n{text}"
    assert f'connection to "postgresql://app:{MASK}@db/shop?key={MASK}" failed' in done.stdout
    assert json.loads(bodies["/hooks"])["jobs"][0]["storages"][0]["backup_dir"].endswith(f"/backups-{MASK}")


def _mail(server: SMTPServer, name: str) -> str:
    """The body of the one message about server ``name`` (delivery is over when corral exits)."""
    deadline = time.monotonic() + 5
    while not (found := [m for m in server.messages() if name in str(m["Subject"])]):
        assert time.monotonic() < deadline, "no e-mail arrived"
        time.sleep(0.05)
    [message] = found
    return str(message.get_content())


def test_list_and_restore_mask_secrets_in_their_warnings_too(tmp_path: Path) -> None:
    """`corral list` and `restore` log (a retried connection says so) with every configured secret masked, as
    `start` does; they logged through Python's fallback handler, raw."""
    from corral.testing.cli import corral, local_storage, write_main

    secret = "Zq9-shared-secret"
    unreachable = {"storage": "sftp", "backup_dir": "b", "host": "127.0.0.1", "port": 1, "user": secret,
                   "password": "other-pw-123", "host_key_check": False, "retries": 1, "timeout": 2}
    mysql_like = {"job": "db", "type": "external", "dump_cmd": "true", "storages": [local_storage(tmp_path / "b")]}
    site = {"job": "site", "type": "desc_files", "sources": [{"target": [str(tmp_path)]}],
            "storages": [unreachable, {**local_storage(tmp_path / "b"), "enable": False}]}
    main = write_main(tmp_path, [site, mysql_like], smtp_server="smtp.example.com", smtp_user="u",
                      smtp_password=secret)
    listed = corral("list", "-c", str(main))
    restored = corral("restore", "site", "--target", "x", "--date", "2026-01-01", "--to", str(tmp_path / "r"), "-c",
                      str(main))
    for done in (listed, restored):
        assert "retrying" in done.stderr, done.stderr
        assert secret not in done.stderr, done.stderr
