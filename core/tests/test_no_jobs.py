"""A configuration that names no job (an empty conf.d, a glob that matches nothing) is said, not silently ok."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.testing.cli import corral


@pytest.mark.parametrize("command", ["check", "start"])
def test_an_include_that_matches_nothing_is_a_warning(tmp_path: Path, command: str) -> None:
    (tmp_path / "conf.d").mkdir()
    main = tmp_path / "corral.conf"
    main.write_text(f"main:\n  general_path_to_all_tmp_dir: {tmp_path}/tmp\njobs: !include [conf.d/*.conf]\n")
    done = corral(command, "-c", str(main), *(["--verbose"] if command == "start" else []))
    assert done.returncode == 0, done.stderr
    assert f"{main}:3: no job is configured (`jobs` is empty or its `!include` matched no file)" in done.stderr
