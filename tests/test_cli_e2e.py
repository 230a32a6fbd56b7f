"""The command line itself (docs/cli.md): --version, help without typer's type labels and without the heavy
imports, shell completion in real bash and zsh, and the JSON of list, check and plugins."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from corral.testing.cli import corral, local_storage, plugin_site, write_main

BIN = Path(sys.executable).parent / "corral"  # the installed script, as a shell runs it
NEEDS_ZSH = pytest.mark.skipif(shutil.which("zsh") is None and os.environ.get("CI") != "true",
                               reason="zsh is not installed")
SECRET = "Pa55-w0rd-not-for-terminals"
CLI_DOC = Path(__file__).parents[1] / "docs" / "cli.md"


def _documented(value: Any) -> None:
    """Every key of a JSON document the CLI prints is named in docs/cli.md (the keys are promised stable)."""
    text = CLI_DOC.read_text()
    if isinstance(value, dict):
        for key, item in value.items():
            assert f'"{key}"' in text, f"`{key}` is missing from docs/cli.md"
            _documented(item)
    elif isinstance(value, list):
        for item in value:
            _documented(item)


def _commands() -> list[list[str]]:
    import typer

    from corral.cli import app

    root = typer.main.get_command(app)
    found = [[]]
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        found.append([name])
        found += [[name, sub] for sub in getattr(command, "commands", {})]
    return found


@pytest.mark.parametrize("command", _commands(), ids=lambda words: " ".join(words) or "corral")
def test_help_shows_no_type_labels(command: list[str]) -> None:
    done = corral(*command, "--help")
    assert done.returncode == 0, done.stderr
    for label in ("<bool>", "<str>", "<path>", "<int", "{", "╭"):
        assert label not in done.stdout, done.stdout
    assert done.stdout.startswith(f"Usage: corral {' '.join(command)}".rstrip() + " "), done.stdout


def test_help_imports_no_config_machinery_and_no_rich() -> None:
    """What keeps ``corral --help`` under 0.3 s (0.65 s when it imported pydantic, the plugins and rich)."""
    probe = ("import sys; sys.argv = ['corral', *sys.argv[1:]]\nfrom corral.cli import main\ntry: main()\n"
             "except SystemExit: pass\nprint(sorted(m for m in sys.modules if m.split('.')[0] in {'pydantic', "
             "'rich', 'stevedore', 'pluggy', 'yaml', 'fsspec'} or m in {'importlib.metadata', 'corral.runner'}), "
             "file=sys.stderr)")
    for args in ([], ["--help"], ["restore", "--help"], ["schedule", "install", "--help"]):
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60)
        assert done.stderr.splitlines()[-1] == "[]", (args, done.stderr)


def test_completion_imports_no_pydantic(tmp_path: Path) -> None:
    """A Tab reads the YAML alone: about 0.25 s (0.4 s with typer's coercion of the words, through pydantic)."""
    config = _config(tmp_path)
    probe = ("import sys; sys.argv = ['corral']\nfrom corral.cli import main\ntry: main()\nexcept SystemExit: pass\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in {'pydantic', 'rich', 'pluggy'}), "
             "file=sys.stderr)")
    words = f"corral restore -c {config} shop-db --target "
    env = {**os.environ, "_CORRAL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": "6"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env=env)
    assert done.stdout.split() == ["shop", "crm"] and done.stderr.splitlines()[-1] == "[]", done.stderr


def test_version_names_the_core_and_each_plugin_distribution(tmp_path: Path) -> None:
    site = tmp_path / "site"
    info = site / "corral_storage_extra-2.5.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: corral-storage-extra\nVersion: 2.5\n")
    (info / "entry_points.txt").write_text("[corral.storages]\nextra = corral_storage_extra_missing\n")
    done = corral("--version", env={"PYTHONPATH": str(site)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "corral 0.1.0"
    assert "corral-source-files 0.1.0" in lines and "corral-storage-local 0.1.0" in lines
    assert "corral-storage-extra 2.5" in lines  # listed, not imported: its module does not even exist
    assert lines[1:] == sorted(lines[1:]) and len(set(lines)) == len(lines)


def _config(tmp_path: Path) -> Path:
    for site in ("shop", "blog"):
        (tmp_path / "www" / site).mkdir(parents=True)
    jobs = [
        {"job": "sites", "type": "desc_files", "sources": [{"target": [f"{tmp_path}/www/*/", "/srv/static"]}],
         "storages": [local_storage(tmp_path / "b")]},
        {"job": "shop-db", "type": "mysql", "sources": [
            {"connect": {"db_host": "localhost", "db_user": "shop", "db_password": SECRET}, "target": ["shop", "all"]},
            {"connect": {"db_host": "db2", "db_user": "crm", "db_password": SECRET}, "target": ["crm"]}],
         "storages": [local_storage(tmp_path / "b")]},
    ]
    return write_main(tmp_path, jobs)


def _bash(line: str, env: dict[str, str] | None = None) -> list[str]:
    """What Tab offers at the end of ``line`` in bash, through the script ``--show-completion`` prints."""
    script = subprocess.run(["bash", "-c", f"{BIN} --show-completion; exit $?"], capture_output=True, text=True,
                            timeout=60, check=True).stdout  # a child of bash (not exec'd by it): typer detects bash
    words = line.split(" ")
    program = ('source /dev/stdin; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _corral_completion "$1"; '
               'printf "%s\\n" "${COMPREPLY[@]}"')
    done = subprocess.run(["bash", "-c", program, "bash", str(BIN), *words[1:]], input=script, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return [word for word in done.stdout.splitlines() if word]


def test_bash_completes_commands_jobs_and_targets_from_the_config(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    assert _bash("corral dr") == ["drill"]
    assert _bash(f"corral start -c {config} ") == ["sites", "shop-db", "all", "files", "databases", "external"]
    assert _bash(f"corral restore -c {config} s") == ["sites", "shop-db"]  # one job: no selectors
    assert _bash(f"corral verify -c {config} --storage local ") == _bash(f"corral drill -c {config} ")
    assert _bash(f"corral restore -c {config} shop-db --target ") == ["shop", "crm"]
    assert _bash(f"corral restore sites -c {config} -t ") == [f"{tmp_path}/www/blog", f"{tmp_path}/www/shop",
                                                              "/srv/static"]
    assert _bash(f"corral drill -c {config} --target c") == ["crm"]
    assert _bash(f"corral verify -c {config} sites --storage ") == ["local"]
    assert _bash("corral list ", env={"CORRAL_CONFIG": config}) == ["sites", "shop-db", "all", "files", "databases",
                                                                     "external"]


def test_completion_is_silent_on_a_config_it_cannot_read(tmp_path: Path) -> None:
    broken = tmp_path / "broken.conf"
    broken.write_text("main: [\n")
    for config in (broken, tmp_path / "missing.conf"):
        assert _bash(f"corral start -c {config} ") == ["all", "files", "databases", "external"]
        assert _bash(f"corral restore -c {config} x --target ") == []


def test_bash_install_completion_sets_up_bashrc(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    home = {**os.environ, "HOME": str(tmp_path)}
    done = subprocess.run(["bash", "-c", f"{BIN} --install-completion; exit $?"], capture_output=True, text=True,
                          env=home, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "bash completion installed in" in done.stdout
    check = (f"complete -p {BIN.name} && COMP_WORDS=({BIN} restore -c {config} shop-db --target ''); COMP_CWORD=6; "
             f"_corral_completion {BIN}; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    shown = subprocess.run(["bash", "-i", "-c", check], capture_output=True, text=True, env=home, timeout=60)
    assert shown.stdout.splitlines()[1:] == ["shop", "crm"], shown.stdout + shown.stderr


@NEEDS_ZSH
def test_zsh_completes_jobs_and_targets(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    home = {**os.environ, "HOME": str(tmp_path), "PATH": f"{BIN.parent}:{os.environ['PATH']}"}  # zsh's runs `corral`
    done = subprocess.run(["zsh", "-f", "-c", f"{BIN} --install-completion; exit $?"], capture_output=True,
                          text=True, env=home, timeout=60)
    assert done.returncode == 0, done.stderr
    script = tmp_path / ".zfunc" / "_corral"
    assert script.read_text().startswith("#compdef corral") and "fpath+=~/.zfunc" in (tmp_path / ".zshrc").read_text()
    # the installed function, run by zsh with what it hands to _arguments printed instead of shown
    program = ('compdef() { :; }; _arguments() { print -rl -- "$@"; }; source "$1"; shift; words=("$@"); '
               'CURRENT=$#; _corral_completion')
    for line, offered in ((f"corral restore -c {config} shop-db --target ", ['"shop"', '"crm"']),
                          (f"corral start -c {config} s", ['"sites"', '"shop-db"'])):
        words = line.split(" ")
        shown = subprocess.run(["zsh", "-f", "-c", program, "zsh", str(script), str(BIN), *words[1:]],
                               capture_output=True, text=True, env=home, timeout=60)
        assert shown.returncode == 0 and shown.stderr == "", shown.stderr
        assert shown.stdout.startswith("*: :((") and shown.stdout.rstrip().endswith("))"), shown.stdout
        assert shown.stdout.removeprefix("*: :((").rstrip().removesuffix("))").split() == offered


ZPTY = r"""
zmodload zsh/zpty
zpty -b shell 'TERM=dumb zsh -i'
seen=""
expect() {  # wait until the terminal shows $1
  local chunk deadline=$((SECONDS + 30))
  while (( SECONDS < deadline )); do
    if zpty -r -t shell chunk; then seen+=$chunk; [[ $seen == *$1* ]] && return 0; else sleep 0.1; fi
  done
  print -r -- "never saw: $1"; print -r -- "${seen//$''/}"; return 1
}
for typed shown in "$@"; do
  zpty -w -n shell $''"$typed"$'	'
  expect "$shown" || exit 1
done
zpty -d shell
"""


@NEEDS_ZSH
def test_zsh_completes_at_the_first_tab_of_a_new_shell(tmp_path: Path) -> None:
    """An interactive zsh (on a pseudo-terminal) after --install-completion: typer's script completed nothing at
    the first Tab of each shell (zsh autoloads it then, and it only registered itself)."""
    config = str(_config(tmp_path))
    home = {**os.environ, "HOME": str(tmp_path), "PATH": f"{BIN.parent}:{os.environ['PATH']}"}
    subprocess.run(["zsh", "-f", "-c", f"{BIN} --install-completion; exit $?"], env=home, timeout=60, check=True,
                   capture_output=True)
    steps = ["corral st", "corral start ", "corral resto", "corral restore ",
             f"corral restore -c {config} shop-db --target c", "--target crm "]
    done = subprocess.run(["zsh", "-f", "-c", ZPTY, "zsh", *steps], capture_output=True, text=True, env=home,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_completion_never_shows_a_secret(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    env = {"_CORRAL_COMPLETE": "complete_bash"}
    for words in (f"corral restore -c {config} shop-db --target ", f"corral restore -c {config} shop-db --into ",
                  f"corral restore -c {config} shop-db --storage ", f"corral start -c {config} "):
        done = corral(env={**env, "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)})
        assert done.returncode == 0 and SECRET not in done.stdout + done.stderr, done.stdout + done.stderr


def _inc_backups(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("hello\n")
    jobs = [{"job": "inc", "type": "inc_files", "sources": [{"target": [str(tmp_path / "site")]}],
             "storages": [local_storage(tmp_path / "b"), local_storage(tmp_path / "b2")]}]
    config = write_main(tmp_path, jobs)
    for day in ("01", "02", "03"):
        done = corral("start", "-q", "-c", str(config), env={"CORRAL_NOW": f"2026-03-{day}T03:00:00"})
        assert done.returncode == 0, done.stderr
    return config, tmp_path / "b" / "inc" / "site" / "2026"


def test_list_shows_one_line_per_backup_newest_first(tmp_path: Path) -> None:
    config, stored = _inc_backups(tmp_path)
    assert len(list(stored.glob("*.snar"))) == 1  # the full archive's snapshot: part of that backup
    done = corral("list", "-c", str(config))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"inc on local ({tmp_path}/b/inc): 3 backup(s)"
    assert lines[4] == f"inc on local#2 ({tmp_path}/b2/inc): 3 backup(s)"
    rows = [line.split() for line in lines[1:4]]
    assert [row[0] + " " + row[1] for row in rows] == [f"2026-03-0{day} 03:00:00" for day in (3, 2, 1)]
    assert [row[-1] for row in rows] == [str(stored / f"site_2026-03-0{day}_03-00-00.{level}.tar")
                                         for day, level in ((3, "day"), (2, "day"), (1, "full"))]
    assert ".snar" not in done.stdout


def test_list_json(tmp_path: Path) -> None:
    config, stored = _inc_backups(tmp_path)
    done = corral("list", "--json", "-c", str(config))
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    _documented(listed)
    assert listed["storages"] == [
        {"job": "inc", "storage": "local", "location": f"{tmp_path}/b/inc", "backups": 3, "error": None},
        {"job": "inc", "storage": "local#2", "location": f"{tmp_path}/b2/inc", "backups": 3, "error": None},
    ]
    backups = listed["backups"]
    assert [(b["made"], b["storage"]) for b in backups] == [
        (f"2026-03-0{day}T03:00:00", storage) for day in (3, 2, 1) for storage in ("local", "local#2")]
    full = backups[4]
    snar = stored / "site_2026-03-01_03-00-00.full.snar"
    tar = stored / "site_2026-03-01_03-00-00.full.tar"
    assert full == {"job": "inc", "storage": "local", "target": "site", "made": "2026-03-01T03:00:00",
                    "size": tar.stat().st_size + snar.stat().st_size, "path": str(tar),
                    "files": [{"path": str(tar), "size": tar.stat().st_size},
                              {"path": str(snar), "size": snar.stat().st_size}]}


REFUSING_STORAGE = f'''
from fsspec.implementations.local import LocalFileSystem
from pydantic import SecretStr
from corral import StorageOptions, hookimpl

class RefusingOptions(StorageOptions):
    password: SecretStr

class Refusing(LocalFileSystem):
    def find(self, *args, **kwargs):
        raise PermissionError("login refused for {SECRET}")

@hookimpl
def corral_storage_schema():
    return RefusingOptions

@hookimpl
def corral_storage_filesystem(config):
    return Refusing()
'''


def test_list_json_reports_a_storage_it_cannot_read(tmp_path: Path) -> None:
    _inc_backups(tmp_path)
    site = plugin_site(tmp_path, "storages", "refusing", REFUSING_STORAGE)
    jobs = [{"job": "inc", "type": "inc_files", "sources": [{"target": [str(tmp_path / "site")]}],
             "storages": [{"storage": "refusing", "backup_dir": str(tmp_path / "r"), "password": SECRET},
                          local_storage(tmp_path / "b")]}]
    done = corral("list", "--json", "-c", str(write_main(tmp_path, jobs)), env={"PYTHONPATH": str(site)})
    assert done.returncode == 1 and SECRET not in done.stdout + done.stderr, done.stdout + done.stderr
    listed = json.loads(done.stdout)
    assert [(s["storage"], s["backups"], bool(s["error"])) for s in listed["storages"]] == [("refusing", 0, True),
                                                                                            ("local", 3, False)]
    assert "login refused for" in listed["storages"][0]["error"]
    assert len(listed["backups"]) == 3
    assert done.stderr.startswith("corral: error: job `inc`: storage refusing: ")


def test_check_json(tmp_path: Path) -> None:
    config = _config(tmp_path)
    done = corral("check", "--json", "-c", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == {
        "config": str(config), "ok": True, "jobs": [{"name": "sites", "type": "desc_files"},
                                                    {"name": "shop-db", "type": "mysql"}],
        "unavailable": [], "warnings": [], "errors": []}
    broken = write_main(tmp_path, [{"job": "x", "type": "desc_files", "storages": []}])
    done = corral("check", "--json", "-c", str(broken))
    report: dict[str, Any] = json.loads(done.stdout)
    _documented(report)
    assert done.returncode == 2 and report["ok"] is False and report["errors"] and report["jobs"] == []
    assert list(report) == ["config", "ok", "jobs", "unavailable", "warnings", "errors"]


def test_plugins_json(tmp_path: Path) -> None:
    done = corral("plugins", "--json")
    assert done.returncode == 0, done.stderr
    _documented(json.loads(done.stdout))
    plugins = json.loads(done.stdout)["plugins"]
    assert {"name": "local", "kind": "storage", "distribution": "corral-storage-local", "version": "0.1.0",
            "error": None} in plugins
    site = tmp_path / "site"
    info = site / "corral_source_broken-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: corral-source-broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[corral.sources]\nbroken = corral_no_such_module\n")
    done = corral("plugins", "--json", env={"PYTHONPATH": str(site)})
    assert done.returncode == 1
    (broken,) = [p for p in json.loads(done.stdout)["plugins"] if p["name"] == "broken"]
    assert broken["distribution"] == "corral-source-broken" and "ModuleNotFoundError" in broken["error"]
