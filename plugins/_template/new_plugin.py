#!/usr/bin/env python3
"""Render the plugin template: ``new_plugin.py NAME [--dest DIR]``."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).parent / "template"


def render(name: str, dest: Path) -> Path:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise SystemExit(f"new_plugin.py: `{name}`: use lower-case letters, digits and _ (it becomes a job type)")
    if dest.exists():
        raise SystemExit(f"new_plugin.py: `{dest}` exists; choose another --dest")
    for source in TEMPLATE.rglob("*"):
        if "__pycache__" in source.parts or source.suffix == ".pyc":
            continue
        target = dest / str(source.relative_to(TEMPLATE)).replace("NAME", name)
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read_text().replace("NAME", name))
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", help="the job type, e.g. sqlite")
    parser.add_argument("--dest", type=Path, help="folder to create (default: ./corral-source-NAME)")
    args = parser.parse_args()
    dest = render(args.name, args.dest or Path(f"corral-source-{args.name.replace('_', '-')}"))
    print(f"created {dest}", file=sys.stderr)


if __name__ == "__main__":
    main()
