"""Malformed configurations never end in a traceback: only ConfigError (exit 2) or a valid Config.

Every error is one line naming the file it is about. Besides random structures and mutated text, the loader's
tags get odd arguments: ``!include`` of globs, lists, folders, FIFOs, binary and self-including files; ``!env`` of
missing or impossible names; ``!file`` of missing, empty, binary, huge files and folders.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.config import load_config
from corral.config.validate import Config
from corral.errors import ConfigError

KEYS = [
    "main",
    "jobs",
    "job",
    "type",
    "tmp_dir",
    "sources",
    "storages",
    "storage",
    "enable",
    "backup_dir",
    "store",
    "days",
    "weeks",
    "month",
    "months",
    "target",
    "excludes",
    "gzip",
    "compression",
    "dump_cmd",
    "server_name",
    "admin_mail",
    "level_message",
    "cpu_shares",
    "blkio_weight",
    "bogus",
    "desc_files",
    "external",
    "local",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**12),
    st.text(max_size=12),
    st.sampled_from(KEYS),
    st.floats(allow_nan=False),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=6))  # odd keys too: "a\nb", "\u2028", ""
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
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
OUTSIDE = ("/dev/null", "/nonexistent")  # files outside the example's folder that errors may name instead


def _check(path: Path) -> None:
    """Load ``path``: a valid Config, or a ConfigError whose every line names a file of the example."""
    try:
        assert isinstance(load_config(path), Config)
    except ConfigError as exc:
        assert exc.problems
        for line in exc.problems:
            assert line.strip() and line.isprintable(), line
            assert str(path.parent) in line or any(name in line for name in OUTSIDE), line


def _load(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corral.conf"
        path.write_text(text)
        _check(path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["main", "jobs", "other"]), values, max_size=3))
def test_random_structures(document: dict) -> None:
    _load(yaml.safe_dump(document))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_mutated_valid_config(data: st.DataObject) -> None:
    text = VALID
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(text)))
        action = data.draw(st.sampled_from(["delete", "insert", "replace"]))
        snippet = data.draw(
            st.sampled_from(
                [
                    ":",
                    "-",
                    " ",
                    "\n",
                    "[",
                    "{",
                    "'",
                    "!include x",
                    "!env NOPE",
                    "&a",
                    "*a",
                    "bogus: 1",
                    "0",
                    "''",
                    "\t",
                    "é",
                    "!file x",
                    "!include '*'",
                    "&b [*a, *a, *a]",
                    "<<: *a",
                    "[[[[[[",
                    "? [a]\n: b",
                    "\x00",
                    "\u2028",
                    "\ufeff",
                    "!!timestamp 2024-13-01",
                    "!!binary x",
                    "!!python/object:os.system",
                    "!!set {a, b}",
                    "---\n",
                ]
            )
        )
        if action == "delete":
            text = text[:position] + text[position + 3 :]
        elif action == "insert":
            text = text[:position] + snippet + text[position:]
        else:
            text = text[:position] + snippet + text[position + len(snippet) :]
    _load(text)


# ------------------------------------------------------------------------------------------ the loader's tags


@dataclass(frozen=True)
class Tagged:
    """A value written with a corral tag (or any tag): ``!include [a, b]``, ``!env NAME``, ``!file {x: 1}``."""

    tag: str
    value: Any


class _Dumper(yaml.SafeDumper):
    pass


def _represent(dumper: _Dumper, data: Tagged) -> yaml.Node:
    if isinstance(data.value, list):
        return dumper.represent_sequence(data.tag, data.value)
    if isinstance(data.value, dict):
        return dumper.represent_mapping(data.tag, data.value)
    return dumper.represent_scalar(data.tag, "" if data.value is None else str(data.value))


_Dumper.add_representer(Tagged, _represent)

PATHS = [
    "conf.d/a.conf",
    "conf.d/*.conf",
    "conf.d/[ab].conf",
    "conf.d/?.conf",
    "conf.d",
    "*.conf",
    "*",
    "corral.conf",
    "../",
    "missing.conf",
    "secret",
    "dir",
    "dir/*",
    "fifo",
    "empty",
    "binary",
    "huge",
    "",
    "/dev/null",
    "/nonexistent/x",
    "a\x00b",
    "\u2028",
]
ENV_NAMES = ["PATH", "CORRAL_FUZZ_UNSET", "", "A=B", "x\x00y", "é", "\ud800", "a\nb"]
TAGS = [
    "!include",
    "!env",
    "!file",
    "!bogus",
    *(f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "timestamp", "binary", "set", "omap")),
]
tagged = st.one_of(
    st.builds(Tagged, st.sampled_from(["!include", "!file"]), st.sampled_from(PATHS)),
    st.builds(Tagged, st.just("!env"), st.sampled_from(ENV_NAMES)),
    st.builds(Tagged, st.just("!include"), st.lists(st.one_of(st.sampled_from(PATHS), scalars), max_size=3)),
    st.builds(
        Tagged,
        st.sampled_from(TAGS),
        st.one_of(scalars, st.lists(scalars, max_size=2), st.dictionaries(keys, scalars, max_size=2)),
    ),
)
tagged_values = st.recursive(
    st.one_of(scalars, tagged),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(keys, inner, max_size=3),
        st.builds(Tagged, st.just("!include"), st.lists(inner, max_size=2)),
    ),
    max_leaves=12,
)
JOB = "- job: {name}\n  type: external\n  dump_cmd: !file ../secret\n  storages: [{{storage: local, backup_dir: /b}}]\n"
included = st.one_of(
    st.sampled_from(
        [
            JOB.format(name="a"),
            JOB.format(name="b")[2:].replace("\n  ", "\n"),
            "",
            "- !include a.conf\n",
            "!include ../corral.conf\n",
            "- !include '*.conf'\n",
            "jobs: !include ../*.conf\n",
        ]
    ),
    tagged_values.map(lambda value: yaml.dump(value, Dumper=_Dumper)),
    st.binary(max_size=12).map(lambda data: data.decode("latin-1")),
)
SECRETS = [b"password\n", b"", b"\xff\xfe\x00\x01", b"two\nlines\n", b"\n"]


def _write_tree(root: Path, main: str, a: str, b: str, secret: bytes) -> Path:
    """The example's folder: the main file, two included files, a secret, a folder, a FIFO, odd files."""
    (root / "conf.d").mkdir()
    (root / "dir").mkdir()
    os.mkfifo(root / "fifo")
    (root / "conf.d" / "a.conf").write_text(a, errors="surrogateescape")
    (root / "conf.d" / "b.conf").write_text(b, errors="surrogateescape")
    (root / "secret").write_bytes(secret)
    (root / "empty").write_bytes(b"")
    (root / "binary").write_bytes(bytes(range(256)))
    (root / "huge").write_bytes(b"x" * (2**16 + 10))
    path = root / "corral.conf"
    path.write_text(main, errors="surrogateescape")
    return path


job_lists = st.lists(
    st.fixed_dictionaries(
        {
            "job": st.sampled_from(["a", "b", "c"]),
            "type": st.just("external"),
            "dump_cmd": st.one_of(tagged, scalars),
            "storages": st.just([{"storage": "local", "backup_dir": "/b"}]),
        }
    ),
    max_size=3,
)
includes = st.builds(Tagged, st.just("!include"), st.lists(st.sampled_from(PATHS), min_size=1, max_size=3))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    jobs=st.one_of(includes, job_lists, tagged_values),
    main=st.one_of(st.just({"general_path_to_all_tmp_dir": "/tmp/corral-fuzz"}), tagged_values),
    a=included,
    b=included,
    secret=st.sampled_from(SECRETS),
)
def test_loader_tags_with_odd_arguments(jobs: Any, main: Any, a: str, b: str, secret: bytes) -> None:
    text = yaml.dump({"main": main, "jobs": jobs}, Dumper=_Dumper)
    with tempfile.TemporaryDirectory() as tmp:
        _check(_write_tree(Path(tmp), text, a, b, secret))
