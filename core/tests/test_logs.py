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
