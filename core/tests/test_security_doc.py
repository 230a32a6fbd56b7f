"""docs/security.md names the test behind each promise: every file and test it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_every_test_the_security_page_names_exists() -> None:
    text = (ROOT / "docs" / "security.md").read_text()
    files = set(re.findall(r"`((?:core|tests|plugins)/[\w/.-]+\.py)", text))
    assert len(files) >= 20
    for name in files:
        assert (ROOT / name).is_file(), f"docs/security.md names `{name}`, which does not exist"
    places = [*ROOT.glob("**/tests/**/*.py"), *ROOT.glob("core/src/corral/testing/*.py")]  # contract tests too
    sources = "\n".join(path.read_text() for path in places if ".venv" not in path.parts)
    tests = set(re.findall(r"(?:::|`)(test_\w+)", text))
    assert len(tests) >= 30
    missing = sorted(test for test in tests if not re.search(rf"def {test}\b|def {test}\w*\(", sources))
    assert missing == [], "docs/security.md names tests that do not exist"
