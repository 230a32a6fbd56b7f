"""Rotation deletes only files corral wrote, through the real ``corral start`` on a local storage.

A backup folder is a place people also put things: an invoice, a draft, a link to elsewhere. Only the hidden
temp file of an interrupted upload and, under ``store``, an expired archive in its target's folder with an
extension the job's source makes may go.
"""

from __future__ import annotations

import os
from pathlib import Path

from corral.testing.cli import corral, local_storage, write_main
from tests.conftest import report_json, script

NOW = "2026-03-10T03:00:00"
# decoys placed in every job folder: none of them may be deleted, with or without `store`
DECOY_FILES = [
    "site/invoice_2024-03-01_00-00-00.pdf",  # a foreign name with a stamp
    "invoice/invoice_2024-03-01_00-00-00.pdf",  # in a folder of its own name, with an extension no source makes
    "site/notes.partial-draft.txt",
    "site/.notes.partial-0a1b2c3d",  # the temp-name pattern around a name that is not an archive's
    "site/.site_2026-03-01_03-00-00.tar.gz.partial-0A1B2C3D",
    "site/.site_2026-03-01_03-00-00.tar.gz.partial-0a1b2c3",
    "site/.site_2026-03-01_03-00-00.tar.gz.partial-0a1b2c3d.bak",
    "site/site_2026-03-01_03-00-00.tar.gz.partial-0a1b2c3d",
    "other/.site_2026-03-01_03-00-00.tar.gz.partial-0a1b2c3d",  # a temp name in the wrong folder
    "other/site_2026-03-01_03-00-00.tar.gz",  # the right stamp in the wrong folder
    "site_2026-03-01_03-00-00.tar.gz",  # directly in the job's folder
    "site/site_2026-03-01_03-00-00.sql.gz",  # another source's extension
    "site/site_2026-03-01_03-00-00.tar.gz.bak",
    "site/site_2026-03-01_03-00-00.tar.xz",
    "site/Site_2026-03-01_03-00-00.tar.gz",
    "site/site_2026-02-30_03-00-00.tar.gz",  # a date that does not exist
    "site/site_2026-03-01_03-00-00.tar\n",
]
# the temp name of a `.pdf` archive: a decoy where the source declares its extensions (desc_files makes tar,
# tar.gz, tar.zst), an orphan where it declares none (external: the script chooses)
PDF_PARTIAL = "site/.site_2026-03-01_03-00-00.pdf.partial-0a1b2c3d"
DECOY_LINK = "site/site_2026-03-05_03-00-00.tar.gz"  # a symbolic link named like an expired archive
DECOY_DIR = "site/site_2026-03-06_03-00-00.tar.gz"  # a folder named like one
LINKED_DIR = "site/2024"  # a link to a folder of archive-named files elsewhere
# corral's own, expired under `store: {days: 2}` on 2026-03-10
EXPIRED = [
    "site/site_2026-03-01_03-00-00.tar.gz",
    "site/site_2026-03-02_03-00-00.tar.zst",
    "site/site_2026-03-03_03-00-00.tar",
    "site/2025/site_2025-12-01_03-00-00.tar.gz",
]
KEPT = ["site/site_2026-03-09_03-00-00.tar.gz"]
ORPHANS = [
    "site/.site_2026-03-04_03-00-00.tar.gz.partial-0a1b2c3d",
    "site/2025/.site_2025-12-02_03-00-00.tar.partial-deadbeef",
]


def _plant(folder: Path, outside: Path, names: list[str]) -> None:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(f"{name}\n")
    (folder / DECOY_LINK).symlink_to(outside / "precious.tar.gz")
    (folder / DECOY_DIR).mkdir()
    (folder / DECOY_DIR / "keep.txt").write_text("a folder's content\n")
    (folder / LINKED_DIR).symlink_to(outside / "linked", target_is_directory=True)


def _tree(folder: Path) -> set[str]:
    """Every entry below ``folder``, links not followed; the jobs' checksum manifests (test_verify_e2e) and run
    records (test_run_records_e2e) aside."""
    found = set()
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(parent, name), folder))
    return {path for path in found if not {".manifests", ".runs"} & set(path.split(os.sep)[1:2])}


def test_rotation_deletes_only_files_corral_wrote(tmp_path: Path) -> None:
    outside = tmp_path / "user"
    (outside / "linked").mkdir(parents=True)
    (outside / "precious.tar.gz").write_text("the user's own archive\n")
    (outside / "linked" / "site_2024-01-01_03-00-00.tar.gz").write_text("reached through a linked folder\n")
    (tmp_path / "www" / "site").mkdir(parents=True)
    (tmp_path / "www" / "site" / "index.html").write_text("hello\n")
    backups = tmp_path / "backups"
    for job in ("sites", "plain"):
        _plant(backups / job, outside, [*DECOY_FILES, *EXPIRED, *KEPT, *ORPHANS, PDF_PARTIAL])
    neighbours = ["sites2/site/site_2026-03-01_03-00-00.tar.gz", "site/site_2026-03-01_03-00-00.tar.gz",
                  "sites/../sites2/site/.site_2026-03-01_03-00-00.tar.gz.partial-0a1b2c3d"]  # fmt: skip
    for name in neighbours:
        (backups / name).parent.mkdir(parents=True, exist_ok=True)
        (backups / name).write_text("another job's\n")
    before = _tree(backups)
    sites = {"job": "sites", "type": "desc_files", "sources": [{"target": [str(tmp_path / "www" / "site")],
             "gzip": True}], "storages": [local_storage(backups, store={"days": 2})]}  # fmt: skip
    dump = script(
        tmp_path / "dump.sh", 'echo x > "$CORRAL_TMP_DIR/x.txt"\n' + report_json("$CORRAL_TMP_DIR/x.txt", "x")
    )
    plain = {"job": "plain", "type": "external", "dump_cmd": dump, "storages": [local_storage(backups)]}  # no store
    main = write_main(tmp_path, [sites, plain])

    done = corral("start", "all", "--verbose", "-c", str(main), env={"CORRAL_NOW": NOW})

    assert done.returncode == 0, done.stderr
    after = _tree(backups)
    gone = {f"sites/{name}" for name in EXPIRED + ORPHANS} | {f"plain/{name}" for name in [*ORPHANS, PDF_PARTIAL]}
    made = {"sites/site/site_2026-03-10_03-00-00.tar.gz", "plain/x", "plain/x/x_2026-03-10_03-00-00.txt"}
    assert before - after == gone
    assert after - before == made
    assert (outside / "precious.tar.gz").read_text() == "the user's own archive\n"
    assert (outside / "linked" / "site_2024-01-01_03-00-00.tar.gz").exists()
    assert "[sites] storage local: rotation deleted 6 old file(s)" in done.stderr
    assert "[plain] storage local: rotation deleted 3 old file(s)" in done.stderr

    # `corral list` and `corral restore` see the same backups as rotation: no decoy is listed or restored
    listed = corral("list", "sites", "-c", str(main))
    assert listed.returncode == 0, listed.stderr
    paths = sorted(line.split()[-1] for line in listed.stdout.splitlines()[1:])
    assert paths == [str(backups / "sites" / name) for name in ("site/site_2026-03-09_03-00-00.tar.gz",
                                                                "site/site_2026-03-10_03-00-00.tar.gz")]
    restored = corral("restore", "sites", "--target", "site", "--date", "2026-03-10", "--to", str(tmp_path / "r"),
                      "-c", str(main))
    assert restored.returncode == 0, restored.stderr
    assert f"extracted `{backups}/sites/site/site_2026-03-10_03-00-00.tar.gz`" in restored.stdout
    assert (tmp_path / "r" / "site" / "index.html").read_text() == "hello\n"
