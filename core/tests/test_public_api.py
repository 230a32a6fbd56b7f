"""The plugin API: every public name comes from ``corral`` alone, is documented, and docs/api.md is current."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import corral

ROOT = Path(__file__).resolve().parents[2]


def _reference() -> str:
    spec = importlib.util.spec_from_file_location("api_reference", ROOT / "docs" / "api_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.reference())


def test_every_public_name_imports_from_corral_and_is_documented() -> None:
    listed = set(corral.__all__) - {"__version__"}
    assert listed == set(corral._HOME_OF) | set(corral._MODULES)
    for name in listed:
        thing = getattr(corral, name)
        assert (thing.__doc__ or "").strip(), f"corral.{name} has no docstring"


def test_docs_api_md_is_what_the_docstrings_say() -> None:
    assert (ROOT / "docs" / "api.md").read_text() == _reference(), "run: python docs/api_reference.py > docs/api.md"


def test_plugins_take_public_names_from_corral_alone() -> None:
    """A plugin that imports ``Storage`` from ``corral.runner`` breaks when the core moves it; the shipped
    plugins and the template show the way."""
    found = []
    for path in [*ROOT.glob("plugins/*/*/src/**/*.py"), *ROOT.glob("plugins/_template/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("corral."):
                found += [f"{path.relative_to(ROOT)}: {alias.name} from {node.module}" for alias in node.names
                          if corral._HOME_OF.get(alias.name) == node.module]
    assert found == []
