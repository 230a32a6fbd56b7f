"""A real ``corral start`` mails its report to a real SMTP server (aiosmtpd); the tests read the Maildir."""

from __future__ import annotations

import email.message
import re
import socket
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from corral.testing.notify import Run, Workspace
from corral_testservers import SMTPServer
from corral_testservers.prerequisites import require_executable

if TYPE_CHECKING:
    from conftest import TLSServers

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
ADMIN, CLIENT, SENDER = "ops@example.org", "customer@example.org", "backup@web1.example"


def server_name() -> str:
    """A server name unique to the test: the session's SMTP servers are shared, so messages are told apart."""
    return f"web-{uuid.uuid4().hex[:8]}"


def received(server: SMTPServer, name: str, count: int) -> list[email.message.EmailMessage]:
    """The messages about server ``name``; exactly ``count`` of them (delivery is over when corral exits)."""
    deadline = time.monotonic() + (5 if count else 0)
    while True:
        found = [m for m in server.messages() if name in str(m["Subject"])]
        if len(found) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(found) == count, [str(m["Subject"]) for m in found]
    return found


def storage_lines(text: str) -> list[str]:
    """The lines of every ``storages:`` block, durations blurred to ``#.#``."""
    lines, inside = [], False
    for line in text.splitlines():
        if line == "  storages:":
            inside = True
        elif inside and line.startswith("    "):
            lines.append(re.sub(r"\d+\.\d s", "#.# s", line.strip()))
        else:
            inside = False
    return lines


def by_recipient(messages: list[email.message.EmailMessage]) -> dict[str, email.message.EmailMessage]:
    return {str(m["To"]): m for m in messages}


def smtp_main(server: SMTPServer, name: str, **extra: object) -> dict[str, object]:
    return {"server_name": name, "admin_mail": ADMIN, "client_mail": [CLIENT], "mail_from": SENDER,
            "smtp_server": server.host, "smtp_port": server.port, "smtp_timeout": 10, **extra}


def test_failed_storage_mails_admins_and_clients_what_failed_and_why(
    workspace: Workspace, smtp_server: SMTPServer
) -> None:
    name = server_name()
    config = workspace.config(
        smtp_main(smtp_server, name, level_message="error"),
        [workspace.job("shop-db"), workspace.job("blog-db", broken_storage=True)],
    )
    run = workspace.run(config)
    assert run.code == 1, run.stderr
    mails = by_recipient(received(smtp_server, name, 2))
    assert set(mails) == {ADMIN, CLIENT}
    for mail in mails.values():
        assert mail["From"] == SENDER
        assert mail["Subject"] == f"[corral] {name}: backup FAILED: blog-db (1 of 2 job(s))"
        text = mail.get_content()
        assert "[ok] job shop-db (external)" in text
        assert "[FAILED] job blog-db (external)" in text
        # each storage by its label, what failed and why, sizes and durations
        shop, blog = text.split("[FAILED] job blog-db")
        assert storage_lines(shop) == [f"local ({workspace.root / 'backups'}): ok: 1 archive(s), 16 B in #.# s"]
        good, bad = storage_lines(blog)
        assert good == f"local ({workspace.root / 'backups'}): ok: 1 archive(s), 16 B in #.# s"
        assert bad.startswith(f"local#2 ({workspace.blocker / 'backups'}): FAILED: target blog-db: upload failed: "
                              "NotADirectoryError"), bad
        assert "blog-db: 16 B" in text
        assert "took " in text and " s; 2 archive(s), 32 B." in text
        assert "Errors and warnings from the log:" in text
        assert "[ERROR] [blog-db] storage local#2: target blog-db: upload failed" in text
        assert "storage local: " not in text  # the working storage has no error
        assert "[INFO]" not in text  # `error` level: errors only
    assert "e-mail report sent to ops@example.org" in run.log


def test_second_of_two_local_storages_fails_and_the_report_tells_them_apart(
    workspace: Workspace, smtp_server: SMTPServer
) -> None:
    """Two storages of one kind: the report names each by its label and folder, with its own outcome."""
    leftover = workspace.root / "backups" / "blog-db" / "blog-db" / ".blog-db_2026-01-30_03-00-00.sql.partial-1a2b3c4d"
    leftover.parent.mkdir(parents=True)
    leftover.write_text("an interrupted upload of an earlier run")  # rotation deletes it on `local` only
    name = server_name()
    config = workspace.config({"server_name": name, "admin_mail": ADMIN, "smtp_server": smtp_server.host,
                               "smtp_port": smtp_server.port}, [workspace.job("blog-db", broken_storage=True)])
    run = workspace.run(config)
    assert run.code == 1, run.stderr
    [mail] = received(smtp_server, name, 1)
    text = mail.get_content()
    first, second = storage_lines(text)
    assert first == f"local ({workspace.root / 'backups'}): ok: 1 archive(s), 16 B in #.# s; " \
        "rotation deleted 1 old file(s)"
    assert second.startswith(f"local#2 ({workspace.blocker / 'backups'}): FAILED: target blog-db: upload failed: "
                             f"NotADirectoryError: [Errno 20] Not a directory: '{workspace.blocker / 'backups'}")
    assert "rotation" not in second
    assert "  errors:" not in text  # the only error is shown beside its storage, not twice
    assert not leftover.exists()
    assert [p.name for p in leftover.parent.iterdir()] == ["blog-db_2026-01-31_03-00-00.sql"]


def test_clean_run_mails_nobody_at_level_error(workspace: Workspace, smtp_server: SMTPServer) -> None:
    name = server_name()
    config = workspace.config(smtp_main(smtp_server, name, level_message="error"), [workspace.job("shop-db")])
    run = workspace.run(config)
    assert run.code == 0, run.stderr
    received(smtp_server, name, 0)
    assert "e-mail" not in run.log


def test_clean_run_sends_clients_the_full_log_at_level_debug(workspace: Workspace, smtp_server: SMTPServer) -> None:
    name = server_name()
    config = workspace.config(smtp_main(smtp_server, name, level_message="debug"), [workspace.job("shop-db")])
    run = workspace.run(config)
    assert run.code == 0, run.stderr
    [mail] = received(smtp_server, name, 1)  # admins hear only about failures
    assert mail["To"] == CLIENT
    assert mail["Subject"] == f"[corral] {name}: backup OK (1 job(s))"
    assert mail["Auto-Submitted"] == "auto-generated"
    text = mail.get_content()
    assert "[ok] job shop-db (external)" in text
    assert storage_lines(text) == [f"local ({workspace.root / 'backups'}): ok: 1 archive(s), 16 B in #.# s"]
    assert "Full log:" in text
    assert "[INFO] [shop-db] job started (type external)" in text
    assert "[INFO] [shop-db] storage local: stored " in text


def test_authenticated_smtp_keeps_the_password_out_of_logs(
    workspace: Workspace, smtp_auth_server: SMTPServer
) -> None:
    assert smtp_auth_server.user and smtp_auth_server.password
    name = server_name()
    main = smtp_main(smtp_auth_server, name, smtp_user=smtp_auth_server.user,
                     smtp_password=smtp_auth_server.password)
    config = workspace.config(main, [workspace.job("blog-db", broken_storage=True)])
    run = workspace.run(config)
    assert run.code == 1
    mails = by_recipient(received(smtp_auth_server, name, 2))
    assert set(mails) == {ADMIN, CLIENT}
    assert_secret_hidden(run, smtp_auth_server.password)


def test_wrong_password_is_one_logged_line_and_changes_nothing(
    workspace: Workspace, smtp_auth_server: SMTPServer
) -> None:
    wrong = "Wr0ng-" + uuid.uuid4().hex
    name = server_name()
    main = smtp_main(smtp_auth_server, name, smtp_user="corral", smtp_password=wrong, level_message="debug")
    run = workspace.run(workspace.config(main, [workspace.job("shop-db")]))
    assert run.code == 0  # the backup succeeded; the notifier's failure does not change that
    received(smtp_auth_server, name, 0)
    [line] = [line for line in run.log.splitlines() if "notifier:email" in line]
    assert "[ERROR]" in line
    assert "refused the login of `corral`: 535" in line
    assert_secret_hidden(run, wrong)


def test_unauthenticated_send_to_an_auth_server_is_reported(
    workspace: Workspace, smtp_auth_server: SMTPServer
) -> None:
    name = server_name()
    run = workspace.run(workspace.config(smtp_main(smtp_auth_server, name, level_message="debug"),
                                           [workspace.job("shop-db")]))
    assert run.code == 0
    assert f"SMTP server 127.0.0.1:{smtp_auth_server.port} answered 530" in run.log


def test_smtp_server_down_is_logged_and_the_exit_code_stays(workspace: Workspace) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    main = {"server_name": server_name(), "client_mail": CLIENT, "level_message": "debug",
            "smtp_server": "127.0.0.1", "smtp_port": port}
    run = workspace.run(workspace.config(main, [workspace.job("shop-db")]))
    assert run.code == 0
    assert f"plugin `notifier:email` failed in corral_run_finished: MailError: to {CLIENT}: cannot reach SMTP " \
           f"server 127.0.0.1:{port}: Connection refused" in run.log
    assert "job finished successfully" in run.log


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
def test_tls_and_login(workspace: Workspace, tls_smtp_servers: TLSServers, mode: str) -> None:
    server = getattr(tls_smtp_servers, mode)
    name = server_name()
    main = smtp_main(server, name, smtp_tls=mode == "starttls", smtp_ssl=mode == "smtps",
                     smtp_user=server.user, smtp_password=server.password)
    config = workspace.config(main, [workspace.job("blog-db", broken_storage=True)])
    run = workspace.run(config, env={"SSL_CERT_FILE": str(tls_smtp_servers.cert)})
    assert run.code == 1
    assert set(by_recipient(received(server, name, 2))) == {ADMIN, CLIENT}
    assert server.password is not None
    assert_secret_hidden(run, server.password)


def test_untrusted_certificate_is_refused(workspace: Workspace, tls_smtp_servers: TLSServers) -> None:
    server = tls_smtp_servers.smtps
    name = server_name()
    main = smtp_main(server, name, smtp_ssl=True, smtp_user=server.user, smtp_password=server.password,
                     level_message="debug")
    run = workspace.run(workspace.config(main, [workspace.job("shop-db")]))  # system CAs only
    assert run.code == 0
    assert "TLS certificate not trusted: self-signed certificate" in run.log
    received(server, name, 0)


def test_sendmail_when_no_smtp_server(workspace: Workspace, smtp_server: SMTPServer) -> None:
    """msmtp, a real sendmail-compatible program, relays the message to the SMTP sink."""
    msmtp = require_executable("msmtp", apt="msmtp")
    home = workspace.root / "home"
    home.mkdir()
    rc = home / ".msmtprc"
    rc.write_text(f"account default\nhost {smtp_server.host}\nport {smtp_server.port}\nauth off\ntls off\n"
                  "from fallback@example.org\n")
    rc.chmod(0o600)
    name = server_name()
    main = {"server_name": name, "admin_mail": ADMIN, "mail_from": SENDER, "sendmail_path": msmtp}
    run = workspace.run(workspace.config(main, [workspace.job("blog-db", broken_storage=True)]),
                          env={"HOME": str(home)})
    assert run.code == 1
    [mail] = received(smtp_server, name, 1)
    assert mail["To"] == ADMIN and mail["From"] == SENDER
    assert "[FAILED] job blog-db (external)" in mail.get_content()


def test_missing_sendmail_is_a_clear_error(workspace: Workspace, tmp_path: Path) -> None:
    main = {"server_name": server_name(), "admin_mail": ADMIN, "sendmail_path": str(tmp_path / "no-sendmail")}
    run = workspace.run(workspace.config(main, [workspace.job("blog-db", broken_storage=True)]))
    assert run.code == 1
    assert f"MailError: to {ADMIN}: no sendmail at `{tmp_path / 'no-sendmail'}`: set `smtp_server` in main" \
        in run.log


def test_both_tls_modes_is_a_clear_error(workspace: Workspace, smtp_server: SMTPServer) -> None:
    main = smtp_main(smtp_server, server_name(), smtp_ssl=True, smtp_tls=True)
    run = workspace.run(workspace.config(main, [workspace.job("blog-db", broken_storage=True)]))
    assert "`smtp_ssl` (SMTPS) and `smtp_tls` (STARTTLS) exclude each other" in run.log


def assert_secret_hidden(run: Run, secret: str) -> None:
    assert secret not in run.log
    assert secret not in run.stderr
    assert secret not in run.stdout
