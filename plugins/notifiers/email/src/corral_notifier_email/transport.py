"""Getting a message out: SMTP (plain, STARTTLS or SMTPS, with optional login) or a local sendmail.

Every failure becomes a :class:`MailError` whose one-line message names the server or program and the cause,
never the password.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING, Any

from corral import CorralError, RunContext

if TYPE_CHECKING:
    import smtplib
    from email.message import EmailMessage


class MailError(CorralError):
    """A message could not be handed over; the text says where and why."""


def default_port(settings: Any) -> int:
    if settings.smtp_ssl:
        return 465
    return 587 if settings.smtp_tls else 25


def send(message: EmailMessage, settings: Any, run: RunContext) -> None:
    """Hand ``message`` to the SMTP relay, or to sendmail when no relay is configured."""
    if settings.smtp_server:
        send_smtp(message, settings)
    else:
        send_sendmail(message, settings, run)


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"{exc.smtp_code} {' '.join(text.split())}"


def send_smtp(message: EmailMessage, settings: Any) -> None:
    import smtplib  # deferred: only a run that sends mail pays for it
    import ssl

    if settings.smtp_ssl and settings.smtp_tls:
        raise MailError("`smtp_ssl` (SMTPS) and `smtp_tls` (STARTTLS) exclude each other; set only one")
    host, port = settings.smtp_server, settings.smtp_port or default_port(settings)
    where = f"SMTP server {host}:{port}"
    context = ssl.create_default_context()
    try:
        smtp: smtplib.SMTP
        if settings.smtp_ssl:
            smtp = smtplib.SMTP_SSL(host, port, timeout=settings.smtp_timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=settings.smtp_timeout)
        with smtp:
            if settings.smtp_tls:
                smtp.starttls(context=context)
            if settings.smtp_user:
                password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                smtp.login(settings.smtp_user, password)
            refused = smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(f"{where} refused the login of `{settings.smtp_user}`: {_reply(exc)}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError(f"{where} refused every recipient: {', '.join(exc.recipients)}") from None
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"{where} answered {_reply(exc)}") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise MailError(f"{where}: {exc}") from None
    except ssl.SSLCertVerificationError as exc:
        raise MailError(f"{where}: TLS certificate not trusted: {exc.verify_message}") from None
    except ssl.SSLError as exc:
        raise MailError(f"{where}: TLS failed: {exc.reason or exc}") from None
    except TimeoutError:
        raise MailError(f"{where}: no answer within {settings.smtp_timeout:g} s (smtp_timeout)") from None
    except smtplib.SMTPServerDisconnected as exc:
        raise MailError(f"{where} closed the connection: {exc}") from None
    except OSError as exc:
        raise MailError(f"cannot reach {where}: {exc.strerror or exc}") from None
    if refused:
        raise MailError(f"{where} refused some recipients: {', '.join(sorted(refused))}")


def send_sendmail(message: EmailMessage, settings: Any, run: RunContext) -> None:
    program = str(settings.sendmail_path)
    args = [program, "-t", "-i"]
    sender = message["From"]
    if sender:
        args += ["-f", str(sender.addresses[0].addr_spec) if sender.addresses else str(sender)]
    try:
        process = run.popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise MailError(
            f"no sendmail at `{program}`: set `smtp_server` in main, or install an MTA (msmtp-mta, postfix...)"
        ) from None
    except PermissionError:
        raise MailError(f"sendmail `{program}` is not executable") from None
    try:
        _, stderr = process.communicate(message.as_bytes(), timeout=settings.smtp_timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise MailError(f"sendmail `{program}` did not finish within {settings.smtp_timeout:g} s") from None
    finally:
        run.forget(process)
    if process.returncode != 0:
        lines = stderr.decode(errors="replace").strip().splitlines()
        raise MailError(f"sendmail `{program}` exited with code {process.returncode}: "
                        f"{lines[-1] if lines else 'no error output'}")
