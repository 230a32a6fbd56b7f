"""Hostile or broken configurations end in one line naming the file, exit 2, at once: never a traceback or a stall.

Each case goes through the real ``corral check`` and ``corral start``. Time and memory are not asserted (the
machine is shared); a finished command with one line is the proof, a generous timeout the guard against a stall.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.testing.cli import corral, refusals

COMMANDS = ["check", "start"]


def _main(tmp_path: Path, jobs: str) -> str:
    return f"main:\n  general_path_to_all_tmp_dir: {tmp_path}/tmp\njobs: {jobs}\n"


def _job(name: str, storages: str = "[{storage: local, backup_dir: /b}]") -> str:
    return f"- job: {name}\n  type: external\n  dump_cmd: /bin/true\n  storages: {storages}\n"


def _refused(command: str, config: Path) -> str:
    """The one line ``corral COMMAND -c CONFIG`` answers with: ``check`` exits 2; ``start`` exits 2 for a problem
    of the main file and 1 for one of a job file (the other jobs run, that file's are reported failed)."""
    done = corral(command, "-c", str(config), timeout=120)
    assert "Traceback" not in done.stderr
    lines = refusals(done)
    assert len(lines) == 1, done.stderr[-3000:]
    in_main = lines[0].startswith(f"{config}:")
    assert done.returncode == (2 if command == "check" or in_main else 1), done.stderr[-3000:]
    return lines[0]


def _laughs() -> str:
    """The "billion laughs": nine lists of nine aliases of the list before, a few hundred bytes."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for before, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{','.join([f'*{before}'] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("command", COMMANDS)
def test_alias_bomb_is_refused_in_one_line(tmp_path: Path, command: str) -> None:
    config = tmp_path / "corral.conf"
    config.write_text(_main(tmp_path, "[]") + _laughs())
    assert len(_laughs()) < 400
    line = _refused(command, config)
    assert line.startswith(f"{config}:")
    assert "aliases and repeated includes add more than 10,000 values" in line


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("layout", "where"),
    [
        ({"jobs": "!include [corral.conf]"}, "corral.conf:3"),
        (
            {
                "jobs": "!include [conf.d/a.conf]",
                "conf.d/a.conf": "!include b.conf\n",
                "conf.d/b.conf": "- !include ../corral.conf\n",
            },
            "conf.d/b.conf:1",
        ),
        ({"jobs": "!include ['*.conf']"}, "corral.conf:3"),  # a glob that matches the including file
        ({"jobs": "!include [conf.d/*.conf]", "conf.d/a.conf": "!include '*'\n"}, "conf.d/a.conf:1"),
    ],
    ids=["itself", "through-two-files", "glob-in-main", "glob-in-included"],
)
def test_include_that_comes_back_is_refused(tmp_path: Path, command: str, layout: dict[str, str], where: str) -> None:
    others = {name: text for name, text in layout.items() if name != "jobs"}
    _write(tmp_path, {"corral.conf": _main(tmp_path, layout["jobs"]), **others})
    line = _refused(command, tmp_path / "corral.conf")
    assert line.startswith(f"{tmp_path}/{where}: `!include` `")
    assert "includes itself (" in line and line.endswith("; remove that `!include`")


@pytest.mark.parametrize(
    "jobs",
    [
        "[" * 5000 + "]" * 5000,
        "{a: " * 5000 + "1" + "}" * 5000,
        "\n" + "- " * 5000 + "x",
        "\n" + "".join("  " * level + "a:\n" for level in range(300)) + "  " * 300 + "b",
        "&deep " + "[" * 45 + "]" * 45 + "\nmore: " + "[" * 10 + "*deep" + "]" * 10,  # deep through an alias
    ],
    ids=["flow-lists", "flow-mappings", "block-lists", "block-mappings", "alias"],
)
def test_deep_nesting_is_one_line(tmp_path: Path, jobs: str) -> None:
    config = tmp_path / "corral.conf"
    config.write_text(_main(tmp_path, jobs))
    line = _refused("check", config)
    assert line.startswith(f"{config}:") and "nested more than 50 levels deep" in line


def _include_chain(tmp_path: Path, levels: int, copies: int) -> Path:
    """conf.d/l0.yml includes l1.yml ``copies`` times, l1.yml includes l2.yml, ... down to a job."""
    files = {f"conf.d/l{n}.yml": f"!include [{', '.join([f'l{n + 1}.yml'] * copies)}]\n" for n in range(levels)}
    files[f"conf.d/l{levels}.yml"] = _job("j")
    files["corral.conf"] = _main(tmp_path, "!include [conf.d/l0.yml]")
    _write(tmp_path, files)
    return tmp_path / "corral.conf"


@pytest.mark.parametrize(
    ("levels", "copies", "command", "problem"),
    [  # seven files each including the next ten times: ten million jobs from a few hundred bytes
        (7, 10, "check", "aliases and repeated includes add more than 10,000 values beyond those written out"),
        (12, 1, "start", "includes nest more than 8 files deep"),
    ],
    ids=["repeated", "deep"],
)
def test_includes_without_end_are_refused(tmp_path: Path, levels: int, copies: int, command: str, problem: str) -> None:
    line = _refused(command, _include_chain(tmp_path, levels, copies))
    assert line.startswith(f"{tmp_path}/conf.d/l") and problem in line


def test_anchors_and_aliases_of_an_ordinary_config_still_work(tmp_path: Path) -> None:
    storages = "&storages [{storage: local, backup_dir: /b, store: &keep {days: 6, weeks: 4, months: 6}}]"
    jobs = _job("first", storages) + "".join(_job(f"job{n}", "*storages") for n in range(60))
    jobs += _job("merged", "[{storage: local, backup_dir: /c, store: {<<: *keep}}]")
    config = tmp_path / "corral.conf"
    config.write_text(_main(tmp_path, "\n" + jobs))
    done = corral("check", "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{config}: ok (62 job(s))"
