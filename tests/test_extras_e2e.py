"""The core's extras: one per plugin distribution, ``all`` for every one, and a wheelhouse install that works."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[1]
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]


def project(folder: Path) -> dict[str, Any]:
    with open(folder / "pyproject.toml", "rb") as file:
        table: dict[str, Any] = tomllib.load(file)["project"]
    return table


def plugin_distributions() -> dict[str, Path]:
    """Distribution name -> folder of every plugin in ``plugins/`` (the template is not one)."""
    folders = [path.parent for path in ROOT.glob("plugins/*/*/pyproject.toml") if "_template" not in path.parts]
    return {str(project(folder)["name"]): folder for folder in folders}


def run(*args: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(arg) for arg in args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_every_plugin_distribution_has_its_extra_and_all_has_every_one() -> None:
    extras: dict[str, list[str]] = project(ROOT / "core")["optional-dependencies"]
    distributions = plugin_distributions()
    for name in distributions:
        short = name.split("-", 2)[2]  # corral-storage-s3 -> s3
        assert extras.get(short) == [name], f"core/pyproject.toml: extra `{short}` should be [{name!r}]"
    assert {req for key, reqs in extras.items() if key != "all" for req in reqs} == set(distributions)
    (all_of,) = extras["all"]
    found = re.fullmatch(r"corral\[([a-z0-9,-]+)\]", all_of)
    assert found, all_of
    assert {extras[key][0] for key in found.group(1).split(",")} == set(distributions)


@pytest.mark.slow
def test_wheelhouse_install_of_two_extras_gives_corral_with_those_plugins(tmp_path: Path) -> None:
    wheels, venv = tmp_path / "wheels", tmp_path / "venv"
    folders = [ROOT / "core", ROOT / "plugins/sources/mysql", ROOT / "plugins/storages/local"]
    run(*PIP, "wheel", "--no-deps", "--no-build-isolation", "-w", wheels, *folders)
    # their dependencies from the configured index, by name: never a `corral*` distribution from an index
    needed = {req for folder in folders for req in project(folder)["dependencies"] if not req.startswith("corral")}
    run(*PIP, "download", "--only-binary", ":all:", "-d", wheels, *sorted(needed))
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    run(*PIP, "--python", venv / "bin/python", "install", "--no-index", "--find-links", wheels, "corral[mysql,local]")
    listed = run(venv / "bin/corral", "plugins").stdout.splitlines()
    assert [line.split()[:3] for line in listed] == [
        ["source", "mysql", "corral-source-mysql"],
        ["source", "mysql_xtradb", "corral-source-mysql"],
        ["storage", "local", "corral-storage-local"],
    ]
