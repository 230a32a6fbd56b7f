"""The names the core accepts from plugins, and the files rotation recognises as its own.

The end-to-end proofs (decoys in a real backup folder, hostile external scripts) are in
``tests/test_own_files_e2e.py`` and the external plugin's tests; these pin the rules themselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.archive import Archive, RemoteFile, own_backup, with_compressions
from corral.storage_defaults import orphaned_upload, partial_name

ROOT = "/b/job"
TARS = with_compressions("tar")


@pytest.mark.parametrize(
    ("target", "extension", "subdir"),
    [
        ("../../etc", "tar", ""),
        ("/etc", "tar", ""),
        ("a/b", "tar", ""),
        ("a\\b", "tar", ""),
        ("..", "tar", ""),
        (".", "tar", ""),
        ("", "tar", ""),
        ("a\x00b", "tar", ""),
        ("a\nb", "tar", ""),
        ("a\u2028b", "tar", ""),
        ("\ud800", "tar", ""),
        ("x" * 214, "tar", ""),
        ("site", "tar/../../../../x", ""),
        ("site", "/etc/x", ""),
        ("site", "", ""),
        ("site", "..", ""),
        ("site", "tar.", ""),
        ("site", ".tar", ""),
        ("site", "tar\n", ""),
        ("site", "tar\x00", ""),
        ("site", "tar-gz", ""),
        ("site", "partial-0a1b2c3d", ""),
        ("site", "x" * 33, ""),
        ("site", "tar", "../x"),
        ("site", "tar", "/abs"),
        ("site", "tar", "a//b"),
        ("site", "tar", "a/"),
        ("site", "tar", "a/../../b"),
        ("site", "tar", "a\nb"),
        ("site", "tar", "x" * 256),
    ],
)
def test_names_that_leave_the_target_folder_or_break_a_line_are_refused(
    target: str, extension: str, subdir: str
) -> None:
    with pytest.raises(ValueError) as refused:
        Archive(Path("/w/a"), target, extension, subdir=subdir)
    assert len(str(refused.value).splitlines()) == 1
    assert str(refused.value).isprintable()


@pytest.mark.parametrize(
    ("target", "extension", "subdir"),
    [
        ("site", "tar.gz", ""),
        ("сайт.рф", "tar.zst", ""),
        (".well-known", "tar", ""),
        ("a b+c@d=e", "sql.gz", ""),
        ("site", "full.snar", "2026"),
        ("site", "tar", "a/b/c"),
        ("x" * 213, "tar", ""),  # the longest whose upload's temp name still fits in 255 bytes
        ("\udcff", "tar", ""),  # a folder name that is not UTF-8 (Python's surrogateescape)
    ],
)
def test_ordinary_names_are_accepted(target: str, extension: str, subdir: str) -> None:
    archive = Archive(Path("/w/a"), target, extension, subdir=subdir)
    assert (archive.target, archive.extension, archive.subdir) == (target, extension, subdir)


def _owned(path: str, extensions: tuple[str, ...] | None = TARS, link: bool = False) -> bool:
    return own_backup(RemoteFile(path, 1, link=link), ROOT, extensions) is not None


@pytest.mark.parametrize(
    "path",
    [
        "/b/job/site/site_2026-03-01_03-00-00.tar.gz",
        "/b/job/site/site_2026-03-01_03-00-00.tar",
        "/b/job/site/2026/site_2026-03-01_03-00-00.tar.zst",
        "b/job/site/site_2026-03-01_03-00-00.tar.gz",  # a storage that lists without the leading slash
        "/b//job/site/site_2026-03-01_03-00-00.tar.gz",
    ],
)
def test_archives_in_their_target_folder_with_the_sources_extension_are_owned(path: str) -> None:
    assert _owned(path)


@pytest.mark.parametrize(
    "path",
    [
        "/b/job/site/invoice_2024-03-01_00-00-00.pdf",
        "/b/job/invoice/invoice_2024-03-01_00-00-00.pdf",
        "/b/job/site/site_2026-03-01_03-00-00.pdf",
        "/b/job/site/site_2026-03-01_03-00-00.sql.gz",
        "/b/job/site/site_2026-03-01_03-00-00.tar.gz.bak",
        "/b/job/site/site_2026-03-01_03-00-00.tar\n",
        "/b/job/site/site_2026-02-30_03-00-00.tar",
        "/b/job/site/Site_2026-03-01_03-00-00.tar",
        "/b/job/other/site_2026-03-01_03-00-00.tar",
        "/b/job/site_2026-03-01_03-00-00.tar",
        "/b/job2/site/site_2026-03-01_03-00-00.tar",
        "/b/site/site_2026-03-01_03-00-00.tar",
        "/b/job/../job2/site/site_2026-03-01_03-00-00.tar",
        "/elsewhere/job/site/site_2026-03-01_03-00-00.tar",
    ],
)
def test_look_alikes_are_not_owned(path: str) -> None:
    assert not _owned(path)


def test_a_symbolic_link_is_never_owned() -> None:
    assert not _owned("/b/job/site/site_2026-03-01_03-00-00.tar", link=True)


def test_without_declared_extensions_any_valid_extension_counts_but_the_folder_still_must_match() -> None:
    assert _owned("/b/job/etcd/etcd_2026-03-01_03-00-00.db.lz4", extensions=None)
    assert not _owned("/b/job/other/etcd_2026-03-01_03-00-00.db.lz4", extensions=None)
    assert not _owned("/b/job/etcd/etcd_2026-03-01_03-00-00." + "x" * 33, extensions=None)


def test_only_the_exact_temp_name_of_an_upload_is_an_orphan() -> None:
    final = "/b/job/site/site_2026-03-01_03-00-00.tar.gz"
    assert orphaned_upload(RemoteFile(partial_name(final), 1), ROOT, TARS)
    for name in [
        "/b/job/site/notes.partial-draft.txt",
        "/b/job/site/.notes.partial-0a1b2c3d",
        "/b/job/site/.site_2026-03-01_03-00-00.tar.gz.partial-0A1B2C3D",
        "/b/job/site/.site_2026-03-01_03-00-00.tar.gz.partial-0a1b2c3",
        "/b/job/site/.site_2026-03-01_03-00-00.tar.gz.partial-0a1b2c3d.bak",
        "/b/job/site/site_2026-03-01_03-00-00.tar.gz.partial-0a1b2c3d",
        "/b/job/site/.site_2026-03-01_03-00-00.pdf.partial-0a1b2c3d",
        "/b/job/other/.site_2026-03-01_03-00-00.tar.gz.partial-0a1b2c3d",
        "/b/job2/site/.site_2026-03-01_03-00-00.tar.gz.partial-0a1b2c3d",
    ]:
        assert not orphaned_upload(RemoteFile(name, 1), ROOT, TARS), name
    assert not orphaned_upload(RemoteFile(partial_name(final), 1, link=True), ROOT, TARS)
