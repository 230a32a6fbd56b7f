"""`corral migrate` against broken and crafted nxs-backup files and output folders: one line and nothing written
for a user's mistake, no shell command in the report that a crafted name turns into another, no folder's mode
changed that migrate did not make."""

from __future__ import annotations

import shlex
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corral.cli import app

JOB = """\
- job: {name}
  type: desc_files
  sources: [{{target: [/srv]}}]
  storages: [{{storage: local, backup_dir: '{backup_dir}', store: {{days: 1}}}}]
"""


def _migrate(tmp_path: Path, text: str, *args: str) -> tuple[int, str, Path]:
    source = tmp_path / "nxs" / "nxs-backup.conf"
    source.parent.mkdir(exist_ok=True)
    source.write_text(text)
    out = tmp_path / "corral"
    done = CliRunner().invoke(app, ["migrate", "--from", str(source), "--to", str(out), *args])
    return done.exit_code, done.output, out


def _credentials(out: Path) -> dict[str, str]:
    return {path.name: path.read_text() for path in (out / "credentials").iterdir()}


def test_an_alias_bomb_is_one_line_not_a_hang(tmp_path: Path) -> None:
    levels = ["  a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 8)]
    text = "x:\n" + "\n".join(levels) + "\nmain: {}\njobs:\n" + JOB.format(name="a", backup_dir="/b").replace(
        "[/srv]", "*a7")
    code, output, _ = _migrate(tmp_path, text, "--dry-run")
    assert code == 2 and "aliases" in output and len(output.splitlines()) == 1, output


@pytest.mark.parametrize("value", ["!!timestamp 2024-13-01", "!!int ''", "!!float x", '"a\\ud800"'])
def test_a_value_yaml_cannot_build_is_one_line(tmp_path: Path, value: str) -> None:
    code, output, _ = _migrate(tmp_path, f"main:\n  server_name: {value}\njobs: []\n", "--dry-run")
    assert code == 2 and "nxs-backup.conf:2: invalid" in output and len(output.splitlines()) == 1, output


@pytest.mark.parametrize(("text", "line"), [
    ("main: {}\njobs:\n" + JOB.format(name="a", backup_dir="/b") + "  tmp_dir: !include x.conf\n", 7),
    ("main: {}\njobs:\n- job: a\n  type: mysql\n  sources: !include x.conf\n", 5),
    ("main: !include x.conf\njobs: []\n", 1),
    ("storage_connects: !include x.conf\n", 1),
    ("storage_connects: []\nnotifications:\n  webhooks: !include x.conf\n", 3),
    ("storage_connects: []\nlogfile: !include [x.conf]\n", 2),
    ("storage_connects: []\njobs:\n- job_name: a\n  type: mysql\n  storages_options: !include x.conf\n", 5),
    ("storage_connects: []\njobs: !include [x.conf]\n", 2),
])
def test_an_include_elsewhere_than_2x_jobs_is_one_line(tmp_path: Path, text: str, line: int) -> None:
    code, output, _ = _migrate(tmp_path, text, "--dry-run")
    assert code == 2 and len(output.splitlines()) == 1, output
    assert f"nxs-backup.conf:{line}: " in output and "include" in output, output


def test_a_password_with_a_line_break_writes_nothing(tmp_path: Path) -> None:
    text = ("main: {smtp_password: fine}\njobs:\n- job: a\n  type: mysql\n  sources: [{connect: {db_password: ok}, "
            "target: [all]}]\n  storages: [{storage: ftp, host: h, password: \"x\\ny\", backup_dir: /b}]\n")
    code, output, out = _migrate(tmp_path, text)
    assert code == 2 and "holds a line break" in output, output
    assert not out.exists()


def test_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "corral"
    out.mkdir(mode=0o755)
    out.chmod(0o755)  # /etc, /root or /tmp given as --to: never made private (or public) by migrate
    code, output, _ = _migrate(tmp_path, "main: {}\njobs:\n" + JOB.format(name="a", backup_dir="/b"))
    assert code == 0, output
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "conf.d").stat().st_mode) == 0o700


def test_a_folder_others_can_write_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "corral"
    out.mkdir()
    out.chmod(0o777)  # another user could put a conf.d or credentials of theirs there before migrate does
    code, output, _ = _migrate(tmp_path, "main: {}\njobs:\n" + JOB.format(name="a", backup_dir="/b"))
    assert code == 2 and "others can write" in output and len(output.splitlines()) == 1, output
    assert not (out / "corral.conf").exists() and not (out / "conf.d").exists()
    assert stat.S_IMODE(out.stat().st_mode) == 0o777


def test_a_job_file_not_written_by_migrate_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "corral"
    (out / "conf.d").mkdir(parents=True, mode=0o700)
    (out / "conf.d" / "a.conf").write_text("# mine\n")
    code, output, _ = _migrate(tmp_path, "main: {}\njobs:\n" + JOB.format(name="a", backup_dir="/b"))
    assert code == 2 and "conf.d/a.conf` exists" in output and len(output.splitlines()) == 1, output
    assert (out / "conf.d" / "a.conf").read_text() == "# mine\n" and not (out / "corral.conf").exists()


@pytest.mark.parametrize("name", ["'../etc'", "a/b", "'.'", "'..'", "'a\\\\b'", '"a\\0b"', '"a\\nb"'])
def test_a_job_name_corral_refuses_is_renamed_and_reported(tmp_path: Path, name: str) -> None:
    code, output, out = _migrate(tmp_path, "main: {}\njobs:\n" + JOB.format(name=name, backup_dir="/b"))
    assert code == 0, output
    assert "cannot name a folder" in output, output
    written = next((out / "conf.d").glob("*.conf")).read_text()
    check = CliRunner().invoke(app, ["check", "-c", str(out / "corral.conf")])
    assert "job" in written and "String should match" not in check.output and "no folder" not in check.output, (
        check.output)


def test_the_commands_in_the_report_are_quoted(tmp_path: Path) -> None:
    text = "main: {}\njobs:\n" + JOB.format(name="'x;touch pwned'", backup_dir="/b $(id)") + (
        "- job: s\n  type: desc_files\n  sources: [{target: [/srv]}]\n"
        "  storages: [{storage: scp, host: 'h;touch pwned', port: '22;id', backup_dir: /b}]\n")
    code, output, _ = _migrate(tmp_path, text, "--dry-run")
    assert code == 0, output
    moves = [line for line in output.splitlines() if "`mkdir -p" in line]
    keyscan = [line for line in output.splitlines() if "ssh-keyscan" in line]
    assert moves and keyscan
    assert f"mkdir -p {shlex.quote('/b $(id)/x;touch pwned')} && mv" in moves[0], moves[0]
    assert f"ssh-keyscan -p {shlex.quote('22;id')} {shlex.quote('h;touch pwned')} >>" in keyscan[0], keyscan[0]


@pytest.mark.parametrize("version", ["2", "3"])
def test_a_password_in_a_webdav_url_goes_into_credentials(tmp_path: Path, version: str) -> None:
    if version == "2":
        text = ("main: {}\njobs:\n- job: a\n  type: desc_files\n  sources: [{target: [/srv]}]\n  storages:\n"
                "  - {storage: webdav, host: 'https://u:dav%40Secret@dav.example.com', port: 8443, backup_dir: /b}\n")
    else:
        text = ("server_name: s\nstorage_connects:\n- name: dav\n  webdav_params: {url: "
                "'https://u:dav%40Secret@dav.example.com/dav'}\njobs:\n- job_name: a\n  type: desc_files\n"
                "  sources: [{name: www, targets: [/srv]}]\n"
                "  storages_options: [{storage_name: dav, backup_path: /b}]\n")
    code, output, _ = _migrate(tmp_path, text, "--dry-run")
    assert code == 0 and "Secret" not in output, output
    assert "url: https://dav.example.com" in output and "user: u" in output and "password: !file" in output
    code, output, out = _migrate(tmp_path, text, "--force")
    assert code == 0, output
    assert "Secret" not in "".join(path.read_text() for path in [out / "corral.conf", *out.glob("conf.d/*")])
    assert list(_credentials(out).values()) == ["dav@Secret\n"]


def test_a_corral_file_with_an_nxs_backup_word_keeps_its_errors(tmp_path: Path) -> None:
    main = tmp_path / "corral.conf"
    main.write_text("main:\n  log_file: /var/log/corral.log\n  dump_timeout: 3600\njobs:\n- job: db\n  type: mysql\n"
                    "  encrypt: {recipients: [age1example]}\n  sources: [{target: [all]}]\n"
                    "  storages: [{storage: s3, bucket_name: b, backup_dir: /b}]\n")
    done = CliRunner().invoke(app, ["check", "-c", str(main)])
    assert done.exit_code == 2 and "nxs-backup" not in done.output and "log_file" in done.output, done.output


def test_a_password_yaml_reads_as_a_number_or_a_boolean_is_kept_as_written(tmp_path: Path) -> None:
    text = ("main: {smtp_password: 0123}\njobs:\n- job: a\n  type: mysql\n  sources: [{connect: {db_password: 12:30}, "
            "target: [all]}]\n  storages: [{storage: ftp, host: h, password: 1_000, backup_dir: /b}, "
            "{storage: smb, host: h, share: s, password: yes, backup_dir: /c}]\n")
    code, output, out = _migrate(tmp_path, text)
    assert code == 0, output
    assert _credentials(out) == {"main.smtp_password": "0123\n", "a.db_password": "12:30\n",
                                 "a.ftp.password": "1_000\n", "a.smb.password": "yes\n"}


def test_a_job_named_with_a_leading_dot_is_in_a_file_the_main_file_includes(tmp_path: Path) -> None:
    text = "main: {}\njobs:\n" + "".join(JOB.format(name=name, backup_dir="/b") for name in (".hidden", "hidden"))
    code, output, out = _migrate(tmp_path, text)
    assert code == 0, output
    assert sorted(path.name for path in (out / "conf.d").iterdir()) == ["hidden-2.conf", "hidden.conf"]
    check = CliRunner().invoke(app, ["check", "-c", str(out / "corral.conf")])
    assert check.exit_code == 0 and "ok (2 job(s))" in check.output, check.output


@pytest.mark.parametrize(("text", "said"), [
    ("storage_connects: 5\njobs: []\n", "nxs-backup.conf:1: `storage_connects` is no list"),
    ("storage_connects: []\njobs: true\n", "nxs-backup.conf:2: `jobs` is no list"),
    ("storage_connects: []\nnotifications: {webhooks: 5}\n", "nxs-backup.conf:2: notifications: `webhooks` is no list"),
    ("storage_connects: []\njobs: [{job_name: a, type: mysql, storages_options: 5}]\n",
     "nxs-backup.conf:2: job `a`: `storages_options` is no list"),
    ("main: {}\njobs: [{job: a, type: mysql, storages: {storage: local, backup_dir: /b}}]\n",
     "nxs-backup.conf:2: job `a`: `storages` is no list"),
])
def test_a_list_written_as_something_else_is_reported(tmp_path: Path, text: str, said: str) -> None:
    code, output, _ = _migrate(tmp_path, text, "--dry-run")
    assert code == 0 and said in output, output


def test_the_password_of_a_storage_no_job_uses_is_not_written(tmp_path: Path) -> None:
    text = ("storage_connects:\n- name: old\n  ftp_params: {host: h, user: u, password: \"p\\nw\"}\n- name: new\n"
            "  ftp_params: {host: h, user: u, password: used}\njobs:\n- job_name: a\n  type: desc_files\n"
            "  sources: [{name: www, targets: [/srv]}]\n  storages_options: [{storage_name: new, backup_path: /b}]\n")
    code, output, out = _migrate(tmp_path, text)
    assert code == 0 and "1 password file(s)" in output, output
    assert _credentials(out) == {"new.password": "used\n"}
