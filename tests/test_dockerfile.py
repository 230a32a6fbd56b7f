"""The root ``Dockerfile``, checked without a container engine: BuildKit's parser (the ``dockerfile`` package), its
``COPY`` sources, its Debian packages, and the wheelhouse glob its ``RUN`` installs from."""

from __future__ import annotations

import fnmatch
import shlex
import subprocess
from pathlib import Path

import dockerfile

ROOT = Path(__file__).parents[1]
TOOLS = {"tar", "gzip", "zstd", "pigz", "age", "openssh-client", "mariadb-client", "postgresql-client", "redis-tools"}


def commands(name: str) -> list[dockerfile.Command]:
    return [command for command in dockerfile.parse_file(str(ROOT / "Dockerfile")) if command.cmd == name]


def run_words() -> list[str]:
    return [word for command in commands("RUN") for word in shlex.split(command.value[0])]


def test_base_entrypoint_and_default_command() -> None:
    (base,) = commands("FROM")
    assert base.value == ("debian:bookworm-slim",)
    (entrypoint,) = commands("ENTRYPOINT")
    assert entrypoint.json and entrypoint.value == ("corral",)
    (default,) = commands("CMD")
    assert default.value == ("start", "all", "-c", "/etc/corral/corral.conf")


def test_every_copy_source_exists_and_dockerignore_lets_it_in() -> None:
    ignore = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    for command in commands("COPY"):
        *sources, _target = command.value
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such path in the repository"
            excluded = False
            for pattern in ignore:  # the last pattern that matches decides, as in Docker
                if fnmatch.fnmatch(source, pattern.removeprefix("!")):
                    excluded = not pattern.startswith("!")
            assert not excluded, f".dockerignore leaves out `{source}`"


def test_the_packages_it_installs_are_debian_12_packages() -> None:
    words = run_words()
    start = words.index("install")
    packages = {word for word in words[start + 1:words.index("&&", start)] if not word.startswith("-")}
    assert packages >= TOOLS
    # this machine runs Debian 12, as the image's base does: dpkg knows each of them (install.sh installs them)
    known = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\n", *sorted(packages)], capture_output=True,
                           text=True, check=False).stdout.split()  # fmt: skip
    assert sorted(known) == sorted(packages)


def test_it_installs_corral_all_from_a_wheelhouse_of_every_plugin() -> None:
    words = run_words()
    assert "corral[all]" in words and "--no-index" in words
    (glob,) = [word for word in words if word.startswith("./plugins/")]
    matched = {path.parent.name for path in ROOT.glob(glob.removeprefix("./") + "pyproject.toml")}
    every = {path.parent.name for path in ROOT.glob("plugins/*/*/pyproject.toml") if "_template" not in path.parts}
    assert matched == every
