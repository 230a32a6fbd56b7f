import secrets
import smtplib
import time
from email.message import EmailMessage

import pytest

from corral_testservers import SMTPServer


def _message(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "corral@test", "ops@test", subject
    msg.set_content("backup done")
    return msg


def _received(server: SMTPServer, subject: str, timeout: float = 5.0) -> list:
    """The messages with this subject (the session's server is shared with other tests)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in server.messages() if m["Subject"] == subject]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_smtp_without_auth(smtp_server: SMTPServer) -> None:
    subject = f"plain {secrets.token_hex(4)}"
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as smtp:
        smtp.send_message(_message(subject))
    [received] = _received(smtp_server, subject)
    assert received.get_content().strip() == "backup done"


def test_smtp_with_auth(smtp_auth_server: SMTPServer) -> None:
    assert smtp_auth_server.user and smtp_auth_server.password
    with smtplib.SMTP(smtp_auth_server.host, smtp_auth_server.port, timeout=10) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login(smtp_auth_server.user, "wrong")
        with pytest.raises(smtplib.SMTPSenderRefused):
            smtp.send_message(_message("refused"))
    with smtplib.SMTP(smtp_auth_server.host, smtp_auth_server.port, timeout=10) as smtp:
        smtp.login(smtp_auth_server.user, smtp_auth_server.password)
        subject = f"authenticated {secrets.token_hex(4)}"
        smtp.send_message(_message(subject))
    assert len(_received(smtp_auth_server, subject)) == 1
