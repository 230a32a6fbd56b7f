"""Whatever a dump script prints, the job gets an archive inside its folder or a one-line error: no traceback.

The protocol's parser is fuzzed in-process (hundreds of outputs a second); a few outputs, and the extreme
ones (megabytes of output, nesting deeper than the JSON parser goes), also go through the real ``corral``.
"""

from __future__ import annotations

import json
import posixpath
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from corral import DumpError
from corral.archive import archive_name
from corral.testing.cli import corral, local_storage, write_main
from corral_source_external import archive_of, parse_report

KEYS = ["full_path", "basename", "extension", "gzip", "subdir", "target", "extra"]
TRICKY = ["", ".", "..", "../x", "/etc/passwd", "a/b", "tar/../../../../x", "tar.gz", ".tar", "t\x00", "t\n",
          "\ud800", "\udcff", "x" * 300, "сайт", "a\u2028b", "t\x1b[31m", "tar.", "etcd", "sql"]  # fmt: skip
any_text = st.text(st.characters(exclude_categories=()), max_size=20)  # lone surrogates included
names = st.one_of(st.sampled_from(TRICKY), any_text)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), names),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(any_text, inner, max_size=3)),
    max_leaves=8,
)
NOW = datetime(2026, 5, 1, 2, 0, 0)
LOG_LINE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \[(DEBUG|INFO|WARNING|ERROR)\] ")


@st.composite
def reports(draw: st.DrawFn, workdir: str) -> str:
    """A JSON object near the protocol: a valid report with a few keys changed to hostile or wrong values,
    or a random set of the protocol's keys."""
    paths = st.sampled_from([f"{workdir}/made.tar", "made.tar", workdir, "/nonexistent/x.tar", "/dev/null"])
    strings = {"full_path": paths, "basename": names, "extension": names}
    report: dict[str, Any] = {}
    if draw(st.booleans()):
        report = {"full_path": f"{workdir}/made.tar", "basename": "etcd", "extension": "tar"}
    for key in draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=3 if report else len(KEYS))):
        hostile = st.one_of(strings[key], strings[key], strings[key], json_values) if key in strings else json_values
        report[key] = draw(hostile)
    return json.dumps(report, ensure_ascii=draw(st.booleans()))


def outputs(workdir: str) -> st.SearchStrategy[str]:
    """What a script may print: chatter, random JSON, bytes that are not UTF-8, deep nesting; and a report
    last (or not)."""
    line = st.one_of(
        json_values.map(json.dumps),
        st.binary(max_size=40).map(lambda raw: raw.decode(errors="replace")),
        any_text,
        st.integers(1, 100_000).map(lambda depth: "[" * depth),
    )
    last = st.one_of(reports(workdir), reports(workdir), line, st.just(""))
    return st.tuples(st.lists(line, max_size=3), last, st.sampled_from(["\n", "\r\n", "\r", "\x0b"])).map(
        lambda parts: parts[2].join([*parts[0], parts[1]])
    )


def _check(stdout: str, workdir: Path) -> None:
    try:
        archive = archive_of(parse_report(stdout), workdir)
    except DumpError as exc:
        message = str(exc)
        assert len(message.splitlines()) == 1 and message.isprintable(), message
        event(message.split(":")[0][:40])
        return
    event("an archive")
    stored = posixpath.join(
        "/b/job", archive.target, archive.subdir, archive_name(archive.target, NOW, archive.extension)
    )
    assert posixpath.normpath(stored) == stored and stored.startswith(f"/b/job/{archive.target}/")
    assert stored.count("/") == 4 and archive.path.is_file()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_output_gives_an_archive_in_the_job_folder_or_one_line(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "made.tar").write_text("archive\n")
        _check(data.draw(outputs(tmp)), Path(tmp))


def _run(tmp: Path, stdout: bytes) -> tuple[int, str, str]:
    (tmp / "stdout.bin").write_bytes(stdout)
    job = {"job": "ext", "type": "external", "dump_cmd": f"cat '{tmp}/stdout.bin'", "storages": [
        local_storage(tmp / "backups")]}  # fmt: skip
    done = corral("start", "--verbose", "-c", str(write_main(tmp, [job])), env={"CORRAL_NOW": NOW.isoformat()})
    return done.returncode, done.stdout, done.stderr


def _assert_clean(code: int, stdout: str, stderr: str, tmp: Path) -> None:
    assert code in (0, 1), stderr
    assert "Traceback" not in stdout + stderr
    assert all(LOG_LINE.match(line) for line in stderr.splitlines()), stderr  # every error is one log line
    verdict, _header, *rows = stdout.splitlines()
    assert verdict.startswith(("OK", "FAILED")) and len(rows) == 1, stdout  # one summary line for the one job
    written = [p for p in tmp.rglob("*") if p.is_file() and p.parts[len(tmp.parts)] not in ("tmp", "log")]
    assert {p.name for p in written} <= {"stdout.bin", "corral.conf", "made.tar"} | {
        p.name for p in (tmp / "backups").rglob("*") if p.is_file()
    }


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_output_through_corral_start(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        (tmp / "made.tar").write_text("archive\n")
        text = data.draw(outputs(str(tmp)))
        junk = data.draw(st.binary(max_size=64))
        _assert_clean(*_run(tmp, junk + text.encode("utf-8", "surrogatepass")), tmp)


def test_megabytes_of_output_before_the_report_are_read_from_the_tail(tmp_path: Path) -> None:
    (tmp_path / "made.tar").write_text("archive\n")
    report = json.dumps({"full_path": str(tmp_path / "made.tar"), "basename": "t", "extension": "tar"})
    code, _, stderr = _run(tmp_path, b"\xff\xfe chatter\n" * 600_000 + report.encode() + b"\n")
    assert code == 0, stderr
    assert (tmp_path / "backups" / "ext" / "t" / "t_2026-05-01_02-00-00.tar").read_text() == "archive\n"


def test_megabytes_of_junk_or_deep_nesting_give_one_line(tmp_path: Path) -> None:
    for junk in (b"\x00\xff" * 3_000_000, b"[" * 2_000_000, b'{"a":' * 500_000):
        code, stdout, stderr = _run(tmp_path, junk)
        _assert_clean(code, stdout, stderr, tmp_path)
        assert code == 1 and "dump: dump_cmd printed no JSON object on stdout" in stdout
