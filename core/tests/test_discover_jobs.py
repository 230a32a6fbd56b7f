"""The jobs `corral discover` writes from sites and projects: names, targets, passwords kept out of the job file,
the credentials folder, the hand-edit guard and the re-run diff (corral.discovery.jobs, corral.cli.discover)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from corral.cli import app
from corral.config import load_config
from corral.discovery import jobs
from corral.discovery.model import Database, Project, Site

SECRET = "pa$$:wörd 'x\""


class _Loader(yaml.SafeLoader):
    """A job file as YAML, ``!file PATH`` read as ``<PATH>``."""


_Loader.add_constructor("!file", lambda _, node: f"<{node.value}>")


def _found(tmp_path: Path) -> list[jobs.Found]:
    www = tmp_path / "www"
    for name in ("shop", "blog", "crm/public", "legacy"):
        (www / name).mkdir(parents=True, exist_ok=True)
    conf = Path("/etc/nginx/sites-enabled/default")
    shop = Project("bitrix", www / "shop", ("bitrix/cache",), (
        Database("mysql", "shop_bitrix", "127.0.0.1", 3306, user="shop", password=SECRET),
        Database("postgresql", "shop_pg", "localhost", None, user="crm", password=SECRET),))
    return [
        jobs.Found(Site("nginx", ("shop.example.com", "www.shop.example.com"), www / "shop", conf, 1), shop),
        jobs.Found(Site("nginx", ("shop.example.com",), www / "shop", conf, 20), shop),  # its port 443 block
        jobs.Found(Site("nginx", ("_", "*.blog.example.com", "blog.example.com"), www / "blog", conf, 40),
                   Project("wordpress", www / "blog", ("wp-content/cache",), (
                       Database("mysql", "blog_wp", "127.0.0.1", 3306, user="wp", password="wp-secret"),))),
        jobs.Found(Site("apache", ("crm.example.com",), www / "crm/public", conf, 60),
                   Project("laravel", www / "crm", (), (
                       Database("mysql", "shop_bitrix", "127.0.0.1", 3306, user="other", password="o"),
                       Database("mysql", "crm_extra", "127.0.0.1", None, user="other", password="o"),
                       Database("postgresql", "crm", "localhost", None, user="crm", password="c"),))),
        jobs.Found(Site("apache", ("legacy.example.com",), www / "legacy", conf, 80, enabled=False), None),
    ]


def test_one_files_job_per_project_root_and_one_database_job_per_server(tmp_path: Path) -> None:
    plan = jobs.plan(_found(tmp_path))
    by_name = {job["job"]: job for job in plan.jobs}
    assert list(by_name) == ["blog.example.com", "crm.example.com", "shop.example.com", "mysql-127.0.0.1-3306",
                             "postgresql-localhost-5432"]
    shop = by_name["shop.example.com"]
    assert shop["type"] == "desc_files" and shop["sources"][0]["target"] == [str(tmp_path / "www/shop")]
    assert shop["sources"][0]["excludes"] == ["bitrix/cache"]
    assert by_name["crm.example.com"]["sources"][0]["target"] == [str(tmp_path / "www/crm")]  # project root
    mysql = by_name["mysql-127.0.0.1-3306"]
    # a database two projects name is dumped once, by the login of the first project root
    # 127.0.0.1 without a port is 127.0.0.1:3306
    assert [(s["name"], s["target"]) for s in mysql["sources"]] == [("other", ["shop_bitrix", "crm_extra"]),
                                                                    ("wp", ["blog_wp"])]
    assert mysql["sources"][1]["connect"]["db_password"] == "discovered.credentials/mysql-127.0.0.1-3306.wp.password"
    assert plan.secrets["mysql-127.0.0.1-3306.wp.password"] == "wp-secret"
    assert by_name["postgresql-localhost-5432"]["sources"][0]["globals"] is False
    assert plan.skipped == [f"legacy.example.com {tmp_path}/www/legacy (apache /etc/nginx/sites-enabled/default:80): "
                            "not enabled"]
    incremental = jobs.plan(_found(tmp_path), incremental=True)
    assert {job["type"] for job in incremental.jobs} == {"inc_files", "mysql", "postgresql"}
    assert "store" not in incremental.jobs[0]["storages"][0]


def test_job_names_are_file_safe_and_unique() -> None:
    taken: set[str] = set()
    assert [jobs.job_name(name, taken) for name in ("Shop.example.com", "shop.example.com", "all", "пример.рф",
                                                    "a/b", "..")] == [
        "shop.example.com", "shop.example.com-2", "all-site", "xn--e1afmkfd.xn--p1ai", "a_b-c14cddc0", "site"]


def test_the_file_validates_holds_no_password_and_knows_a_hand_edit(tmp_path: Path) -> None:
    plan = jobs.plan(_found(tmp_path), backup_dir=tmp_path / "backups")
    text = jobs.render(plan, root=tmp_path, credentials="discovered.credentials")
    assert SECRET not in text and "wp-secret" not in text
    assert jobs.written_by_corral(text)
    assert not jobs.written_by_corral(text.replace("days: 6", "days: 7", 1))
    assert "# - legacy.example.com" in text
    target = tmp_path / "conf.d" / "discovered.conf"
    jobs.write(target, text, plan.secrets, jobs.credentials_dir(target))
    folder = tmp_path / "conf.d" / "discovered.credentials"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    secret = folder / "mysql-127.0.0.1-3306.wp.password"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and secret.read_text() == "wp-secret\n"
    (tmp_path / "corral.conf").write_text(f"main:\n  general_path_to_all_tmp_dir: {tmp_path}/tmp\n"
                                          "jobs: !include [conf.d/*.conf]\n")
    config = load_config(tmp_path / "corral.conf")
    assert [job.name for job in config.jobs][-2:] == ["mysql-127.0.0.1-3306", "postgresql-localhost-5432"]
    source: Any = config.jobs[-2].sources[1]
    assert source.connect.db_password.get_secret_value() == "wp-secret"
    assert jobs.included_by(tmp_path / "corral.conf", target) is True
    jobs.write(target, text, {"mysql-127.0.0.1-3306.wp.password": "new"}, folder)  # the other logins are gone
    assert sorted(p.name for p in folder.iterdir()) == ["mysql-127.0.0.1-3306.wp.password"]
    assert secret.read_text() == "new\n"
    assert jobs.included_by(tmp_path / "corral.conf", tmp_path / "elsewhere.conf") is False


def test_a_linked_credentials_folder_is_not_followed(tmp_path: Path) -> None:
    plan = jobs.plan(_found(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "discovered.credentials").symlink_to(elsewhere)
    with pytest.raises(jobs.WriteError, match="is not a folder"):
        jobs.write(tmp_path / "discovered.conf", "x", plan.secrets, tmp_path / "discovered.credentials")
    assert not list(elsewhere.iterdir()) and not (tmp_path / "discovered.conf").exists()


def test_the_command_diffs_and_refuses_a_hand_edited_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = _found(tmp_path)
    monkeypatch.setattr(jobs, "find", lambda root: (found, ["/x/wp-config.php: `DB_HOST` is not a string"]))
    target = tmp_path / "conf.d" / "discovered.conf"
    args = ["discover", "--write", str(target), "--root", str(tmp_path), "--backup-dir", str(tmp_path / "b"),
            "-c", str(tmp_path / "missing.conf")]
    runner = CliRunner()
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "nginx shop.example.com www.shop.example.com -> " in first.output
    assert "problem: /x/wp-config.php: `DB_HOST` is not a string" in first.output
    assert "skipped apache legacy.example.com" in first.output
    assert "5 site(s), 4 enabled, 1 skipped; 5 database(s) on 2 server(s); 5 job(s)" in first.output
    assert SECRET not in first.output

    assert f"note: include `{target}` from the main file" in first.output  # there is no main file

    (tmp_path / "missing.conf").write_text("main: {}\njobs: !include [jobs.d/*.conf]\n")
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and f"{target}: up to date" in again.output
    assert f"note: `{tmp_path / 'missing.conf'}` does not include `{target}`" in again.output

    found.pop(2)  # the blog is gone, a new site is there
    (tmp_path / "www" / "new").mkdir()
    found.append(jobs.Found(Site("nginx", ("new.example.com",), tmp_path / "www/new", Path("/n"), 1),
                            Project("plain", tmp_path / "www/new")))
    text = target.read_text()
    target.write_text(text.replace("days: 6", "days: 9", 1))  # edited by hand
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1, refused.output
    assert "-- job: blog.example.com" in refused.output and "-      days: 9" in refused.output
    assert "+- job: new.example.com" in refused.output and "-    - blog_wp" in refused.output
    assert f"+ job new.example.com: {tmp_path}/www/new\n- job blog.example.com: {tmp_path}/www/blog\n" \
           f"- target blog_wp (job mysql-127.0.0.1-3306)\n" in refused.output
    assert f"`{target}` was changed since corral discover wrote it: not overwritten" in refused.output
    assert "days: 9" in target.read_text()
    forced = runner.invoke(app, [*args, "--force"])
    assert forced.exit_code == 0 and "new.example.com" in target.read_text() and "days: 9" not in target.read_text()


def test_without_write_the_yaml_is_printed_without_passwords(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "find", lambda root: (_found(tmp_path), []))
    done = CliRunner().invoke(app, ["discover", "--root", str(tmp_path), "--json"])
    assert done.exit_code == 0, done.output
    assert SECRET not in done.output and "wp-secret" not in done.output
    report = yaml.safe_load(done.output)
    assert report["jobs"][0]["name"] == "blog.example.com"
    assert report["sites"][0]["job"] == "shop.example.com" and report["sites"][-1]["enabled"] is False
    assert report["yaml"].startswith("# corral discover: sha256 ")


def test_names_from_the_sites_cannot_add_keys_jobs_or_comment_lines(tmp_path: Path) -> None:
    """Server and database names are the sites' owners' words: they stay values, whatever they hold."""
    (tmp_path / "evil").mkdir()
    hostile = "x\n- job: evil\n  type: external\n  dump_cmd: id #"
    found = [jobs.Found(Site("nginx", (f"a.example.com\u2028{hostile}",), tmp_path / "evil", Path(f"/e\n{hostile}"), 1),
                        Project("wordpress", tmp_path / "evil", (hostile,), (
                            Database("mysql", hostile, "127.0.0.1", 3306, user=hostile, password="p\u2028q"),)))]
    plan = jobs.plan(found)
    text = jobs.render(plan, root=tmp_path, credentials="discovered.credentials")
    loaded = yaml.load(text, Loader=_Loader)
    assert [job["type"] for job in loaded] == ["desc_files", "mysql"]
    assert loaded[1]["sources"][0]["target"] == [hostile] and loaded[0]["sources"][0]["excludes"] == [hostile]
    assert all(line.startswith(("#", " ", "-")) or not line for line in text.splitlines()[1:])
    assert "\u2028" not in "".join(line for line in text.splitlines() if line.startswith("#"))
    assert plan.secrets == {} and "db_password" not in loaded[1]["sources"][0]["connect"]  # !file reads one line
    shown = jobs.shown(hostile)
    assert plan.problems == [f"database `{shown}`: the password of `{shown}` holds a line break, which `!file` "
                             "cannot read: set `db_password` of job `mysql-127.0.0.1-3306` by hand"]


def test_a_root_that_is_no_folder_is_one_line(tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["discover", "--root", str(tmp_path / "missing")])
    assert done.exit_code == 2 and done.output == f"corral: error: --root `{tmp_path / 'missing'}` is not a folder\n"


def test_incremental_jobs_validate(tmp_path: Path) -> None:
    plan = jobs.plan(_found(tmp_path), incremental=True, backup_dir=tmp_path / "backups")
    target = tmp_path / "conf.d" / "discovered.conf"
    jobs.write(target, jobs.render(plan, root=tmp_path, credentials="discovered.credentials"), plan.secrets,
               jobs.credentials_dir(target))
    (tmp_path / "corral.conf").write_text(f"main:\n  general_path_to_all_tmp_dir: {tmp_path}/tmp\n"
                                          "jobs: !include [conf.d/*.conf]\n")
    assert [job.type for job in load_config(tmp_path / "corral.conf").jobs] == ["inc_files"] * 3 + [
        "mysql", "postgresql"]


def test_no_site_is_said(tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["discover", "--root", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert f"note: no site found: no nginx or Apache configuration under {tmp_path} declares one" in done.output
    assert "\n[]\n" in done.output  # an empty list of jobs: still a job file


def test_a_main_file_including_every_file_of_the_folder_skips_the_credentials_folder(tmp_path: Path) -> None:
    """`jobs: !include [conf.d/*]` matches the credentials folder written beside the job file: a glob includes
    files, so the folder is passed over (it made the whole configuration invalid: no job ran any more)."""
    plan = jobs.plan(_found(tmp_path), backup_dir=tmp_path / "backups")
    target = tmp_path / "conf.d" / "discovered.conf"
    jobs.write(target, jobs.render(plan, root=tmp_path, credentials="discovered.credentials"), plan.secrets,
               jobs.credentials_dir(target))
    (tmp_path / "corral.conf").write_text(f"main:\n  general_path_to_all_tmp_dir: {tmp_path}/tmp\n"
                                          "jobs: !include [conf.d/*]\n")
    assert len(load_config(tmp_path / "corral.conf").jobs) == 5


def test_the_cleanup_deletes_only_password_files_the_previous_job_file_named(tmp_path: Path) -> None:
    """A password file the admin put in the credentials folder (or another job file of the same name's) is not
    corral discover's to delete; one its previous job file read and the new one does not is."""
    plan = jobs.plan(_found(tmp_path))
    target = tmp_path / "conf.d" / "discovered.conf"
    folder = jobs.credentials_dir(target)
    folder.mkdir(parents=True, mode=0o700)
    (folder / "offsite-s3.password").write_text("admin's own\n")
    jobs.write(target, jobs.render(plan, root=tmp_path, credentials=folder.name), plan.secrets, folder)
    assert (folder / "offsite-s3.password").read_text() == "admin's own\n"
    kept = {"mysql-127.0.0.1-3306.wp.password": "new"}
    jobs.write(target, "[]\n", kept, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["mysql-127.0.0.1-3306.wp.password", "offsite-s3.password"]


def test_a_job_file_named_like_its_credentials_folder_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """`--write conf.d/x.credentials`: the credentials folder of that file is the file itself. The folder was made
    and a password written into it, then the job file failed as `Is a directory`."""
    plan = jobs.plan(_found(tmp_path))
    target = tmp_path / "conf.d" / "x.credentials"
    with pytest.raises(jobs.WriteError, match="is the name of its own credentials folder"):
        jobs.write(target, "[]\n", plan.secrets, jobs.credentials_dir(target))
    assert not os.path.lexists(target)


def test_the_diff_hides_a_password_written_into_the_job_file_by_hand(tmp_path: Path) -> None:
    """An admin who replaced a `!file` by the password itself saw it printed in the next run's diff (a terminal,
    a cron mail, a CI log); `!file` and `!env` references stay as they are."""
    old = "- job: db\n  sources:\n  - connect:\n      db_password: hunter2-secret\n      smtp_password: 'x y'\n"
    new = "- job: db\n  sources:\n  - connect:\n      db_password: !file 'discovered.credentials/db.u.password'\n"
    diff = jobs.unified(old, new, "conf.d/discovered.conf")
    assert "hunter2-secret" not in diff and "x y" not in diff
    assert "-      db_password: (hidden)\n" in diff
    assert "+      db_password: !file 'discovered.credentials/db.u.password'\n" in diff
