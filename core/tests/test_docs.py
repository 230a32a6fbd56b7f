"""The documentation keeps up with the code: every hook documented, every example config valid."""

from __future__ import annotations

import inspect
import re
import shutil
from pathlib import Path

import yaml

from corral import hookspecs
from corral.config import load_config

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"


def test_every_hook_is_documented() -> None:
    text = (DOCS / "writing-plugins.md").read_text()
    hooks = [name for name, obj in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("corral_")]
    assert len(hooks) >= 14
    for name in hooks:
        signature = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert f"| `{name}({signature})` |" in text, f"{name} is missing from docs/writing-plugins.md"


def test_yaml_blocks_in_docs_parse() -> None:
    for page in [*DOCS.glob("*.md"), ROOT / "README.md", *ROOT.glob("plugins/*/*/README.md")]:
        for block in re.findall(r"```yaml\n(.*?)```", page.read_text(), flags=re.S):
            yaml.safe_load(block.replace("!include", "").replace("!env", "").replace("!file", ""))


def test_configuration_example_validates(tmp_path: Path) -> None:
    text = (DOCS / "configuration.md").read_text()
    main = re.search(r"```yaml\n(main:.*?)```", text, flags=re.S)[1]
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "corral.conf").write_text(main)
    shutil.copy(ROOT / "docs/examples/article/conf.d/etcd-external.conf", tmp_path / "conf.d")
    config = load_config(tmp_path / "corral.conf")
    assert config.main.client_mail == ["owner@example.com"] and config.jobs[0].name == "etcd-external"
