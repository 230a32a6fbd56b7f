"""The log: the article's info/error lines, with secrets masked wherever they show up."""

from __future__ import annotations

import logging
from pathlib import Path

from corral import logs


def test_declared_secrets_are_masked_in_every_handler(tmp_path: Path, capsys) -> None:
    secret = "s3cr3t-Pa55word"
    collector = logs.setup(tmp_path / "corral.log", {secret, ""})
    token = logs.current_job.set("mysql-job")
    try:
        logging.getLogger("corral").error("mariadb-dump: Access denied (using password: %s)", secret)
    finally:
        logs.current_job.reset(token)
    text = (tmp_path / "corral.log").read_text()
    assert text.endswith("[ERROR] [mysql-job] mariadb-dump: Access denied (using password: *****)\n")
    assert secret not in capsys.readouterr().err
    assert collector.entries[0].job == "mysql-job" and secret not in collector.entries[0].message


def test_a_librarys_warning_is_one_debug_line_in_the_log_and_nothing_on_stderr(tmp_path: Path, capsys) -> None:
    """A library (smbprotocol, paramiko) logging an error with tracebacks from its own thread: Python printed it raw
    on stderr (cron mails it); now it is one masked DEBUG line of corral's log."""
    secret = "s3cr3t-Pa55word"
    logs.setup(tmp_path / "corral.log", {secret})
    try:
        try:
            raise ConnectionResetError(f"peer gone (auth {secret})")
        except ConnectionResetError:
            logging.getLogger("paramiko.transport").exception("Socket exception: Connection reset\nsecond line")
    finally:
        logs.close()
    assert capsys.readouterr().err == ""
    lines = (tmp_path / "corral.log").read_text().splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == ["paramiko.transport: Socket exception: Connection reset"]
    assert "[DEBUG]" in lines[0]
    assert not [h for h in logging.getLogger().handlers if type(h).__name__ == "_Libraries"], "close() detaches it"
