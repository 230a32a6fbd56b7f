"""Malformed configurations never end in a traceback: only ConfigError (exit 2) or a valid Config."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.config import load_config
from corral.config.validate import Config
from corral.errors import ConfigError

KEYS = ["main", "jobs", "job", "type", "tmp_dir", "sources", "storages", "storage", "enable", "backup_dir",
        "store", "days", "weeks", "month", "months", "target", "excludes", "gzip", "compression", "dump_cmd",
        "server_name", "admin_mail", "level_message", "cpu_shares", "blkio_weight", "bogus", "desc_files",
        "external", "local"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**12), st.text(max_size=12),
                    st.sampled_from(KEYS), st.floats(allow_nan=False))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
    max_leaves=25,
)
VALID = """\
main:
  general_path_to_all_tmp_dir: /tmp/corral-fuzz
jobs:
- job: sites
  type: desc_files
  sources:
  - target: [/var/www/*/]
    excludes: [cache]
    gzip: yes
  storages:
  - storage: local
    backup_dir: /b
    store: {days: 6, weeks: 4, month: 6}
- job: ext
  type: external
  dump_cmd: /bin/true
  storages: [{storage: local, backup_dir: /b}]
"""


def _load(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corral.conf"
        path.write_text(text)
        try:
            assert isinstance(load_config(path), Config)
        except ConfigError as exc:
            assert exc.problems
            assert all(line.strip() and "\n" not in line for line in exc.problems)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["main", "jobs", "other"]), values, max_size=3))
def test_random_structures(document: dict) -> None:
    _load(yaml.safe_dump(document))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_valid_config(data: st.DataObject) -> None:
    text = VALID
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(text)))
        action = data.draw(st.sampled_from(["delete", "insert", "replace"]))
        snippet = data.draw(st.sampled_from([":", "-", " ", "\n", "[", "{", "'", "!include x", "!env NOPE", "&a",
                                             "*a", "bogus: 1", "0", "''", "\t", "é"]))
        if action == "delete":
            text = text[:position] + text[position + 3:]
        elif action == "insert":
            text = text[:position] + snippet + text[position:]
        else:
            text = text[:position] + snippet + text[position + len(snippet):]
    _load(text)
