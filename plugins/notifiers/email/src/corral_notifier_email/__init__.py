"""E-mail reports as nxs-backup sends them: admins hear about failures, clients get the log they chose.

``admin_mail`` gets a message only when something failed (errors and warnings of the log), or when coverage
found a site or database that no job backs up. ``client_mail`` gets,
by ``level_message``: ``debug`` the full log after every run, ``info`` the log without debug lines after every
run, ``error`` the errors only, and only when something failed.
"""

from __future__ import annotations

import socket
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from pydantic import BaseModel

from corral import RunContext, RunResult, hookimpl
from corral.drill import DrillResult
from corral_notifier_email.report import body, drill_body, subject
from corral_notifier_email.settings import EmailSettings
from corral_notifier_email.transport import MailError, default_port, send

__all__ = ["EmailNotifier", "EmailSettings", "MailError"]

# level_message -> lowest log level a client sees; "error" clients hear only about failed runs
CLIENT_LOG_LEVEL = {"debug": "DEBUG", "info": "INFO", "error": "WARNING"}


class EmailNotifier:
    """Sends the reports at the end of the run, from the core's :class:`RunResult` alone."""

    @hookimpl
    def corral_main_schema(self) -> type[BaseModel]:
        return EmailSettings

    @hookimpl
    def corral_config_warnings(self, main: Any) -> list[str]:
        if not (main.smtp_server and main.smtp_user) or main.smtp_ssl or main.smtp_tls:
            return []
        where = f"{main.smtp_server}:{main.smtp_port or default_port(main)}"
        return [
            f"the SMTP login of `{main.smtp_user}` goes to {where} in clear; "
            "set `smtp_tls: true` (STARTTLS) or `smtp_ssl: true` (SMTPS)"
        ]

    @hookimpl
    def corral_run_finished(self, run: RunContext, result: RunResult) -> None:
        failures = []
        for recipients, message in self.messages(run.main, result):
            try:
                send(message, run.main, run)
                run.log.info("e-mail report sent to %s", ", ".join(recipients))
            except MailError as exc:
                failures.append(f"to {', '.join(recipients)}: {exc}")
        if failures:
            raise MailError("; ".join(failures))

    @hookimpl
    def corral_drill_finished(self, run: RunContext, result: DrillResult) -> None:
        """A failed drill is an error for the admins: one message naming each target that did not come back."""
        if result.ok or not run.main.admin_mail:
            return
        message = _message(run.main, run.main.admin_mail, f"[corral] {run.main.server_name}: DRILL FAILED",
                           drill_body(run.main.server_name, result))
        send(message, run.main, run)
        run.log.info("e-mail drill report sent to %s", ", ".join(run.main.admin_mail))

    def messages(self, main: Any, result: RunResult) -> list[tuple[list[str], EmailMessage]]:
        """The admins' message (failed runs, or something no job backs up) and the clients' (by ``level_message``)."""
        planned: list[tuple[list[str], str]] = []
        if main.admin_mail and (not result.ok or (result.uncovered is not None and result.uncovered.lines)):
            planned.append((main.admin_mail, "WARNING"))
        if main.client_mail and (main.level_message != "error" or not result.ok):
            planned.append((main.client_mail, CLIENT_LOG_LEVEL[main.level_message]))
        return [(recipients, _message(main, recipients, subject(main.server_name, result),
                                      body(main.server_name, result, level))) for recipients, level in planned]


def _message(main: Any, recipients: list[str], title: str, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = main.mail_from or f"corral@{socket.getfqdn()}"
    message["To"] = ", ".join(recipients)
    message["Subject"] = title
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid("corral")
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
    message.set_content(text)
    return message
