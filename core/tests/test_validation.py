"""Bad configurations: one line per problem, naming file, line, job and key, with the fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corral.cli import app
from corral.config import load_config
from corral.errors import ConfigError

MAIN = """\
main:
  server_name: test
  general_path_to_all_tmp_dir: {tmp}
jobs: !include [conf.d/*.conf]
"""


def local_job(name: str, target: str, backup_dir: str, extra: str = "") -> str:
    return f"""\
- job: {name}
  type: desc_files
  sources:
  - target: [{target}]
{extra}  storages:
  - storage: local
    backup_dir: {backup_dir}
    store: {{days: 6, weeks: 4, month: 6}}
"""


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


def test_valid_config_loads(write_config: Callable[..., Path], tmp_path: Path) -> None:
    path = write_config(MAIN.format(tmp=tmp_path), a=local_job("sites", "/srv/*/", "/backups"))
    config = load_config(path)
    (job,) = config.jobs
    assert (job.name, job.type, job.group) == ("sites", "desc_files", "files")
    assert job.sources[0].target == ["/srv/*/"]
    assert job.storages[0].store.weeks == 4


def test_unknown_key_names_file_line_job_and_suggests(write_config: Callable[..., Path], tmp_path: Path) -> None:
    job = local_job("sites", "/srv", "/b", extra="    exclude: [cache]\n")
    path = write_config(MAIN.format(tmp=tmp_path), a=job)
    (problem,) = problems_of(path)
    assert problem == (
        f"{tmp_path}/conf.d/a.conf:5: job `sites`: unknown key `sources[0].exclude`; did you mean `excludes`?"
    )


def test_wrong_type_and_missing_key(write_config: Callable[..., Path], tmp_path: Path) -> None:
    text = """\
- job: sites
  type: desc_files
  sources:
  - excludes: [cache]
    gzip: maybe
  storages:
  - storage: local
    store: {days: many}
"""
    path = write_config(MAIN.format(tmp=tmp_path), a=text)
    problems = problems_of(path)
    where = f"{tmp_path}/conf.d/a.conf"
    assert f"{where}:7: job `sites`: required key `storages[0].backup_dir` is missing or empty; add it" in problems
    days = f"{where}:8: job `sites`: `storages[0].store.days`: Input should be a valid integer"
    assert any(p.startswith(days) for p in problems)
    assert f"{where}:4: job `sites`: required key `sources[0].target` is missing or empty; add it" in problems
    assert any(p.startswith(f"{where}:5: job `sites`: `sources[0].gzip`: Input should be a valid boolean")
               and "(got 'maybe')" in p for p in problems)
    assert len(problems) == 4


def test_duplicate_job_names(write_config: Callable[..., Path], tmp_path: Path) -> None:
    path = write_config(MAIN.format(tmp=tmp_path), a=local_job("sites", "/a", "/b"), b=local_job("sites", "/c", "/d"))
    (problem,) = problems_of(path)
    assert problem == (
        f"{tmp_path}/conf.d/b.conf:1: job `sites`: duplicate job name (also defined at {tmp_path}/conf.d/a.conf:1);"
        " job names must be unique"
    )


def test_duplicate_key_in_yaml(write_config: Callable[..., Path], tmp_path: Path) -> None:
    path = write_config(MAIN.format(tmp=tmp_path) + "main: {}\n")
    (problem,) = problems_of(path)
    assert problem == f"{path}:5: key `main` appears twice in the same mapping (first on line 1); keep one"


def test_yaml_syntax_error(write_config: Callable[..., Path], tmp_path: Path) -> None:
    path = write_config(MAIN.format(tmp=tmp_path), a="- job: x\n  type: [unclosed\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{tmp_path}/conf.d/a.conf:3: invalid YAML:")


def test_type_not_installed_names_the_pip_install(
    write_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from corral import plugins

    monkeypatch.setitem(plugins.KNOWN_DISTRIBUTIONS, ("source", "tape"), "corral-source-tape")
    text = "- job: db\n  type: tape\n  sources: [{target: [all]}]\n"
    text += "  storages: [{storage: local, backup_dir: /b}]\n"
    path = write_config(MAIN.format(tmp=tmp_path), a=text)
    (problem,) = problems_of(path)
    assert problem == (
        f"{tmp_path}/conf.d/a.conf:2: job `db`: `type: tape`: source `tape` is not installed: "
        "install it with `pip install corral-source-tape`"
    )


def test_unknown_storage_and_reserved_name(write_config: Callable[..., Path], tmp_path: Path) -> None:
    text = "- job: all\n  type: external\n  dump_cmd: x\n  storages: [{storage: tape, backup_dir: /b}]\n"
    path = write_config(MAIN.format(tmp=tmp_path), a=text)
    problems = problems_of(path)
    assert any("`job`: `all` is reserved for `corral start all`" in p for p in problems)
    assert any(":4: job `all`: `storage: tape`: storage `tape` is not installed: no known plugin provides it" in p
               for p in problems)


def test_secret_values_are_never_echoed(write_config: Callable[..., Path], tmp_path: Path) -> None:
    text = "- job: e\n  type: external\n  dump_cmd: [hunter2-secret]\n  storages: [{storage: local, backup_dir: /b}]\n"
    path = write_config(MAIN.format(tmp=tmp_path), a=text)
    (problem,) = problems_of(path)
    assert "`dump_cmd`: Input should be a valid string" in problem


def test_env_and_file_tags(write_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cmd").write_text("from-file\n")
    monkeypatch.setenv("CORRAL_TEST_CMD", "from-env")
    job = "- job: {n}\n  type: external\n  dump_cmd: {v}\n  storages: [{{storage: local, backup_dir: /b}}]\n"
    path = write_config(MAIN.format(tmp=tmp_path), a=job.format(n="e1", v="!env CORRAL_TEST_CMD"),
                        b=job.format(n="e2", v=f"!file {tmp_path}/cmd"))
    assert [j.options.dump_cmd for j in load_config(path).jobs] == ["from-env", "from-file"]
    monkeypatch.delenv("CORRAL_TEST_CMD")
    (problem,) = problems_of(path)
    assert problem == (
        f"{tmp_path}/conf.d/a.conf:3: `!env CORRAL_TEST_CMD`: environment variable `CORRAL_TEST_CMD` is not set"
    )


def test_check_command_exit_codes(write_config: Callable[..., Path], tmp_path: Path) -> None:
    good = write_config(MAIN.format(tmp=tmp_path), a=local_job("sites", "/srv", "/b"))
    result = CliRunner().invoke(app, ["check", "-c", str(good)])
    assert result.exit_code == 0, result.output
    assert "ok (1 job(s))" in result.output
    (tmp_path / "conf.d" / "b.conf").write_text("- job: x\n  type: desc_files\n  bogus: 1\n")
    result = CliRunner().invoke(app, ["check", "-c", str(good)])
    assert result.exit_code == 2
    assert "unknown key `bogus`" in result.output
    assert "Traceback" not in result.output
    missing = CliRunner().invoke(app, ["check", "-c", str(tmp_path / "nope.conf")])
    assert missing.exit_code == 2
    assert "cannot read: No such file or directory" in missing.output


def test_secret_list_items_and_dicts_are_never_echoed_and_masked() -> None:
    from pydantic import BaseModel, SecretStr

    from corral.config.validate import _is_secret, _secrets

    class Hooks(BaseModel):
        urls: list[SecretStr]
        headers: dict[str, SecretStr] = {}

    assert _is_secret(Hooks, ("urls", 1))
    assert _is_secret(Hooks, ("headers", "Authorization"))
    model = Hooks(urls=["https://x/token-1"], headers={"Authorization": "Bearer token-2"})
    assert _secrets([model]) == {"https://x/token-1", "Bearer token-2"}


@pytest.mark.parametrize("name", [".", ".."])
def test_a_job_named_like_a_folder_link_is_refused(write_config: Callable[..., Path], tmp_path: Path,
                                                   name: str) -> None:
    """`<backup_dir>/..` and `<state_dir>/..` are not the job's: its archives and its encrypted chains' local state
    would land beside backup_dir and state_dir, where the local storage's link checks do not apply."""
    path = write_config(MAIN.format(tmp=tmp_path), a=local_job(f"'{name}'", "/srv", "/b"))
    (problem,) = problems_of(path)
    assert f"job `{name}`: `job`: `{name}` is no folder of its own" in problem, problem
