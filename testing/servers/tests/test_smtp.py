import smtplib
from email.message import EmailMessage

import pytest

from corral_testservers import SMTPServer


def _message(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "corral@test", "ops@test", subject
    msg.set_content("backup done")
    return msg


def test_smtp_without_auth(smtp_server: SMTPServer) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as smtp:
        smtp.send_message(_message("plain"))
    [received] = smtp_server.wait_for_messages(1)
    assert received["Subject"] == "plain"
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
        smtp.send_message(_message("authenticated"))
    assert [m["Subject"] for m in smtp_auth_server.wait_for_messages(1)] == ["authenticated"]
