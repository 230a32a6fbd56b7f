"""``corral --debug`` / ``CORRAL_DEBUG=1``: a plugin's bug shows its traceback; without it one line says where."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.testing.cli import corral, local_storage, plugin_site, write_main

SECRET = "Tr4ceback-s3cret"
# A third-party source with bugs: its dump, its `corral_source_target_for` (restore) and its validator raise.
BOOM = '''
from pydantic import SecretStr, field_validator
from corral import SourceOptions, hookimpl
from corral.config.models import SourceSchema

class BoomSource(SourceOptions):
    password: SecretStr
    rows: int = 0

    @field_validator("rows")
    @classmethod
    def _rows(cls, value):
        return {}[value]  # BUG in validation

@hookimpl
def corral_source_schema():
    return SourceSchema(source=BoomSource, group="databases", extensions=("txt",))

def per_row(source):
    return len(source.password.get_secret_value()) / 0  # BUG dump

@hookimpl
def corral_source_dump(job, source, tmp_dir, run):
    try:
        per_row(source)
    except ZeroDivisionError:
        raise ZeroDivisionError(f"no rows to divide for {source.password.get_secret_value()}")  # BUG raised
    yield from ()

@hookimpl
def corral_source_target_for(job, given):
    raise KeyError(f"{given} as {job.sources[0].password.get_secret_value()}")  # BUG restore
'''


def _line(marker: str) -> int:
    return next(number for number, text in enumerate(BOOM.splitlines(), 1) if f"# BUG {marker}" in text)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A config with a job of the buggy type and a files job after it; the buggy plugin on PYTHONPATH."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f").write_text("x")
    backups = tmp_path / "backups"
    jobs = [{"job": "boom", "type": "boom", "sources": [{"password": SECRET}], "storages": [local_storage(backups)]},
            {"job": "data", "type": "desc_files", "sources": [{"target": [str(tmp_path / "data")]}],
             "storages": [local_storage(backups)]}]
    site = plugin_site(tmp_path, "sources", "boom", BOOM)
    return write_main(tmp_path, jobs), {"PYTHONPATH": str(site)}


def _log(config: Path) -> str:
    return (config.parent / "log" / "corral.log").read_text()


def test_without_debug_a_plugins_bug_is_one_line_that_says_where(setup: tuple[Path, dict[str, str]]) -> None:
    config, env = setup
    done = corral("start", "-c", str(config), env=env)
    assert done.returncode == 1
    assert len(list((config.parent / "backups" / "data").rglob("*.tar"))) == 1  # the next job still ran
    where = f"corral_test_boom.py:{_line('raised')}"
    assert f"[boom] source 1: ZeroDivisionError: no rows to divide for ***** ({where}; --debug shows the traceback)" \
           in done.stderr, done.stderr
    for text in (done.stdout, done.stderr, _log(config)):
        assert "Traceback" not in text and SECRET not in text


@pytest.mark.parametrize("how", [["--debug"], ["CORRAL_DEBUG=1"], ["CORRAL_DEBUG=yes", "--debug"]])
def test_debug_shows_the_traceback_masked(setup: tuple[Path, dict[str, str]], how: list[str]) -> None:
    config, env = setup
    flags = [word for word in how if word.startswith("--")]
    env |= dict(word.split("=", 1) for word in how if "=" in word)
    done = corral(*flags, "start", "-c", str(config), env=env)
    assert done.returncode == 1
    assert len(list((config.parent / "backups" / "data").rglob("*.tar"))) == 1
    for text in (done.stderr, _log(config)):
        assert "Traceback (most recent call last)" in text, text
        assert f'corral_test_boom.py", line {_line("dump")}, in per_row' in text  # the cause, chained
        assert f'corral_test_boom.py", line {_line("raised")}, in corral_source_dump' in text
        assert "ZeroDivisionError: no rows to divide for *****" in text and SECRET not in text
        assert f"source 1: ZeroDivisionError: no rows to divide for ***** (corral_test_boom.py:{_line('raised')})" \
               in text
        assert "--debug shows" not in text


def test_debug_off_with_a_zero(setup: tuple[Path, dict[str, str]]) -> None:
    config, env = setup
    done = corral("start", "-c", str(config), env=env | {"CORRAL_DEBUG": "0"})
    assert done.returncode == 1 and "Traceback" not in done.stderr and "--debug shows the traceback" in done.stderr


def test_a_bug_outside_any_job_is_one_line_or_with_debug_its_traceback(setup: tuple[Path, dict[str, str]]) -> None:
    config, env = setup
    restore = ["restore", "boom", "--target", "x", "--to", str(config.parent / "out"), "-c", str(config)]
    done = corral(*restore, env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr and SECRET not in done.stderr
    assert done.stderr == (f"corral: error: unexpected KeyError: 'x as *****' (corral_test_boom.py:"
                           f"{_line('restore')}; --debug shows the traceback)\n")
    done = corral("--debug", *restore, env=env)
    assert done.returncode == 1 and SECRET not in done.stderr
    assert f'corral_test_boom.py", line {_line("restore")}, in corral_source_target_for' in done.stderr
    assert done.stderr.endswith(f"corral: error: unexpected KeyError: 'x as *****' (corral_test_boom.py:"
                                f"{_line('restore')})\n")


def test_a_validator_bug_fails_its_job_in_one_line(setup: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    _config, env = setup
    jobs = [{"job": "boom", "type": "boom", "sources": [{"password": SECRET, "rows": 3}],
             "storages": [local_storage(tmp_path / "b")]}]
    config = write_main(tmp_path, jobs)
    done = corral("check", "-c", str(config), env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr and SECRET not in done.stderr
    assert f"job `boom`: the plugin failed validating these keys (a bug to report to its authors): KeyError: 3 " \
           f"(corral_test_boom.py:{_line('in validation')}; --debug shows the traceback)" in done.stderr, done.stderr
    done = corral("--debug", "check", "-c", str(config), env=env)
    assert f'corral_test_boom.py", line {_line("in validation")}, in _rows' in done.stderr, done.stderr


def test_a_config_mistake_never_shows_a_traceback(tmp_path: Path) -> None:
    config = write_main(tmp_path, [{"job": "x", "type": "desc_files", "sorces": [], "storages": []}])
    for args in (["check"], ["start"], ["list"], ["restore", "x", "-t", "y", "--to", str(tmp_path / "o")]):
        done = corral(*args, "-c", str(config))
        assert done.returncode in (1, 2) and "`sorces`" in done.stderr and "Traceback" not in done.stderr, args


def test_debug_is_a_global_option() -> None:
    assert "--debug" in corral("--help").stdout
    assert corral("--debug", "plugins").returncode == 0
