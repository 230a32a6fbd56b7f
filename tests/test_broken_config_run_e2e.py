"""A typo in one job file fails that file's jobs only: the others run, and the log and the admins hear of it.

Only a broken main file (where the log and the notifiers are configured) stops the run, and then the log still
gets the lines. ``corral check`` reports every problem and exits 2 either way.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.testing.cli import corral, local_storage
from corral_testservers import SMTPServer

NOW = "2026-03-01T03:00:00"


def _tree(tmp_path: Path, smtp: SMTPServer, main_extra: str = "") -> Path:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "www" / "shop").mkdir(parents=True)
    (tmp_path / "www" / "shop" / "index.php").write_text("<?php echo 1;\n")
    main = tmp_path / "corral.conf"
    main.write_text(
        "main:\n"
        "  server_name: web1\n"
        f"  general_path_to_all_tmp_dir: {tmp_path}/tmp\n"
        f"  log_file_name: {tmp_path}/log/corral.log\n"
        "  admin_mail: [admin@example.com]\n"
        "  mail_from: corral@example.com\n"
        f"  smtp_server: {smtp.host}\n"
        f"  smtp_port: {smtp.port}\n"
        f"{main_extra}"
        "jobs: !include [conf.d/*.conf]\n"
    )
    storage = local_storage(tmp_path / "backups")
    (tmp_path / "conf.d" / "files.conf").write_text(
        f"- job: shop-files\n  type: desc_files\n  sources: [{{target: ['{tmp_path}/www/shop']}}]\n"
        f"  storages: [{{storage: local, backup_dir: '{storage['backup_dir']}'}}]\n"
    )
    (tmp_path / "conf.d" / "sites.conf").write_text(
        "- job: blog-files\n  type: desc_files\n  compresion: gzip\n"
        f"  sources: [{{target: ['{tmp_path}/www/shop']}}]\n"
        f"  storages: [{{storage: local, backup_dir: '{storage['backup_dir']}'}}]\n"
    )
    (tmp_path / "conf.d" / "broken.conf").write_text("- job: x\n  type: [\n")
    return main


def test_a_typo_in_one_job_file_fails_its_job_only(tmp_path: Path, smtp_server: SMTPServer) -> None:
    main = _tree(tmp_path, smtp_server)
    before = len(smtp_server.messages())
    done = corral("start", "-c", str(main), env={"CORRAL_NOW": NOW})
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    # the valid job ran and its archive is there
    assert [p.name for p in (tmp_path / "backups" / "shop-files").rglob("*.tar")] == ["shop_2026-03-01_03-00-00.tar"]
    typo = f"{tmp_path}/conf.d/sites.conf:3: job `blog-files`: unknown key `compresion`"
    yaml_error = f"{tmp_path}/conf.d/broken.conf:3: invalid YAML"
    log = (tmp_path / "log" / "corral.log").read_text()
    for text in (log, done.stderr):  # cron mails stderr; the log keeps it
        assert f"[ERROR] [blog-files] job cannot run: {typo}" in text
        assert f"[ERROR] [{tmp_path}/conf.d/broken.conf] job cannot run: {yaml_error}" in text
    assert done.stdout.splitlines()[0] == (
        f"FAILED: blog-files, {tmp_path}/conf.d/broken.conf (2 of 3 job(s))"
    )
    # the admin gets the errors by e-mail
    [mail] = smtp_server.wait_for_messages(before + 1)[before:]
    body = mail.get_content()
    assert "FAILED" in mail["Subject"] and "web1" in mail["Subject"]
    assert typo in body and yaml_error in body
    assert "[ok] job shop-files (desc_files)" in body


def test_check_still_reports_every_problem_and_exits_2(tmp_path: Path, smtp_server: SMTPServer) -> None:
    main = _tree(tmp_path, smtp_server)
    done = corral("check", "-c", str(main))
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith(f"corral: error: {tmp_path}/conf.d/broken.conf:3: invalid YAML")
    assert lines[1].startswith(f"corral: error: {tmp_path}/conf.d/sites.conf:3: job `blog-files`: unknown key")
    assert not (tmp_path / "backups").exists()


@pytest.mark.parametrize("selection", ["files", "databases", "blog-files"])
def test_a_selection_reports_the_broken_files_it_may_cover(tmp_path: Path, smtp_server: SMTPServer,
                                                          selection: str) -> None:
    """`corral start databases` cannot know what an unreadable file held: it reports it rather than skip it."""
    main = _tree(tmp_path, smtp_server)
    done = corral("start", selection, "-c", str(main), env={"CORRAL_NOW": NOW})
    assert done.returncode == 1, done.stderr
    unreadable_reported = f"[ERROR] [{tmp_path}/conf.d/broken.conf] job cannot run:" in done.stderr
    assert unreadable_reported == (selection != "blog-files")  # a job that exists by name is just that job
    typo_reported = "[ERROR] [blog-files] job cannot run:" in done.stderr
    assert typo_reported == (selection in ("files", "blog-files"))  # its type is known: desc_files, a files job
    assert (tmp_path / "backups" / "shop-files").exists() == (selection == "files")


def test_a_broken_main_section_stops_the_run_and_the_log_says_why(tmp_path: Path, smtp_server: SMTPServer) -> None:
    main = _tree(tmp_path, smtp_server, main_extra="  lock_wiat: 5\n")
    done = corral("start", "-c", str(main), env={"CORRAL_NOW": NOW})
    assert done.returncode == 2
    problem = f"{main}:9: main: unknown key `lock_wiat`; did you mean `lock_wait`?"
    assert f"corral: error: {problem}" in done.stderr.splitlines()
    log = (tmp_path / "log" / "corral.log").read_text()
    assert f"[ERROR] configuration error, no job runs: {problem}" in log
    assert not (tmp_path / "backups").exists()


@pytest.mark.parametrize("storage", [
    "{storage: webdav, backup_dir: /b, url: 'https://backup:Pw-in-the-url-42@dav.example.com/'}",
    "{storage: s3, backup_dir: /b, bucket: backups, endpoint_url: 'https://backup:Pw-in-the-url-42@s3.example.com'}",
])
def test_a_url_with_a_password_is_refused_without_echoing_it(tmp_path: Path, smtp_server: SMTPServer,
                                                             storage: str) -> None:
    """A job that cannot run now reaches the log, cron's mail and the notifiers: its problem never quotes the
    password of a URL (it is no configured secret, so nothing would mask it)."""
    main = _tree(tmp_path, smtp_server)
    (tmp_path / "conf.d" / "sites.conf").write_text(
        f"- job: blog-files\n  type: desc_files\n  sources: [{{target: ['{tmp_path}/www/shop']}}]\n"
        f"  storages: [{storage}]\n"
    )
    before = len(smtp_server.messages())
    done = corral("start", "-c", str(main), env={"CORRAL_NOW": NOW})
    assert done.returncode == 1, done.stderr
    assert "[ERROR] [blog-files] job cannot run:" in done.stderr and "must not contain credentials" in done.stderr
    [mail] = smtp_server.wait_for_messages(before + 1)[before:]
    log = (tmp_path / "log" / "corral.log").read_text()
    for text in (done.stderr, done.stdout, log, mail.get_content()):
        assert "Pw-in-the-url-42" not in text
    checked = corral("check", "-c", str(main))
    assert checked.returncode == 2 and "Pw-in-the-url-42" not in checked.stderr


@pytest.mark.parametrize("key", ["log_file_name", "lock_file", "general_path_to_all_tmp_dir"])
def test_a_nul_in_a_main_path_is_one_line(tmp_path: Path, smtp_server: SMTPServer, key: str) -> None:
    """A NUL in a path (YAML's "\\0") is refused by `check` and `start` alike, never a traceback, and the
    broken-main log is not tried through it."""
    main = _tree(tmp_path, smtp_server)
    text = main.read_text().replace(f"  log_file_name: {tmp_path}/log/corral.log\n", "")
    main.write_text(text.replace("jobs:", f'  {key}: "{tmp_path}/x\\0y"\njobs:'))
    for command in ("check", "start"):
        done = corral(command, "-c", str(main), env={"CORRAL_NOW": NOW})
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and f"`{key}`" in done.stderr, done.stderr
    assert not (tmp_path / "backups").exists()


def test_a_file_name_cannot_forge_log_lines(tmp_path: Path, smtp_server: SMTPServer) -> None:
    """An unreadable job file is reported under its name, and a name is any bytes (a user who can write in the
    include folder chooses it): a line break or an escape sequence in it is escaped, never a forged line."""
    main = _tree(tmp_path, smtp_server)
    forged = "\n2026-03-01 03:00:01 [INFO] [blog-files] job finished successfully\x1b[2K"
    (tmp_path / "conf.d" / "broken.conf").rename(tmp_path / "conf.d" / f"z{forged}.conf")
    done = corral("start", "-c", str(main), env={"CORRAL_NOW": NOW})
    assert done.returncode == 1, done.stderr
    log = (tmp_path / "log" / "corral.log").read_text()
    for text in (log, done.stderr, done.stdout):
        assert "\x1b" not in text
        assert not any(line.startswith("2026-03-01 03:00:01 [INFO] [blog-files]") for line in text.splitlines())
    assert f"[ERROR] [{tmp_path}/conf.d/z\\n2026-03-01 03:00:01" in done.stderr
