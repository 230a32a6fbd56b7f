"""Target globs and their names: stable as sites come and go, one name per path, always a usable file name."""

from __future__ import annotations

from pathlib import Path

from corral.archive import target_problem
from corral.targets import excluded, expand, name_of, named


def _sites(root: Path, *names: str) -> None:
    for name in names:
        (root / name / "upload").mkdir(parents=True)


def test_a_glob_names_each_match_by_what_it_matched_and_a_new_site_renames_none(tmp_path: Path) -> None:
    _sites(tmp_path, "shop", "blog", "a_b")
    pattern = f"{tmp_path}/*/upload/"
    before, _ = named([pattern])
    assert sorted(before.values()) == ["a_b", "blog", "shop"]
    _sites(tmp_path, "a b", "магазин", "блог", "пример.рф")  # names that lose characters to `_`
    after, _ = named([pattern])
    assert {path: after[path] for path in before} == before  # nobody renamed
    assert len(set(after.values())) == len(after) == 7  # and no two share a name
    assert all(target_problem(name, "tar.zst.age") is None for name in after.values())
    assert after[tmp_path / "a b" / "upload"].startswith("a_b-")


def test_names_that_still_meet_are_whole_paths_and_every_name_is_usable(tmp_path: Path) -> None:
    _sites(tmp_path / "one", "x")
    _sites(tmp_path / "two", "x")
    (tmp_path / ".." / f"{tmp_path.name}-dots" / "_.._").mkdir(parents=True)
    names, unmatched = named([f"{tmp_path}/one/x/upload", f"{tmp_path}/two/x/upload", f"{tmp_path}/none/*",
                              f"{tmp_path}-dots/*"])
    assert unmatched == [f"{tmp_path}/none/*"]
    one, two = names[tmp_path / "one/x/upload"], names[tmp_path / "two/x/upload"]
    assert one != two and one.endswith("one_x_upload") and two.endswith("two_x_upload")
    assert names[Path(f"{tmp_path}-dots/_.._")] == "_.._"
    assert all(target_problem(name, "tar.zst.age") is None for name in names.values())


def test_deep_and_double_star_globs_and_the_path_a_user_gives(tmp_path: Path) -> None:
    (tmp_path / "shop" / "2024" / "data").mkdir(parents=True)
    (tmp_path / "deep" / "a" / "b").mkdir(parents=True)
    names, _ = named([f"{tmp_path}/*/*/data", f"{tmp_path}/deep/**/b"])
    assert names[tmp_path / "shop" / "2024" / "data"] == "shop___2024"
    assert names[tmp_path / "deep" / "a" / "b"] == "a___b"
    assert name_of([f"{tmp_path}/*/*/data"], f"{tmp_path}/shop/2024/data/") == "shop___2024"
    assert name_of([f"{tmp_path}/*/*/data"], f"{tmp_path}/*/*/data") == "shop___2024"  # the glob of one match
    assert name_of([f"{tmp_path}/*/*/data"], f"{tmp_path}/elsewhere") is None


def test_a_double_star_does_not_descend_into_links(tmp_path: Path) -> None:
    """A site's owner links a folder into itself twice (`a -> .`, `b -> .`): Python's glob follows links under
    `**`, 2^40 paths deep, and an exclude `**/cache` hung the files backup and every `corral start`'s coverage.
    The links are matched, never walked; what `**` matches otherwise is glob's (hidden names only by a `.` part)."""
    site = tmp_path / "site"
    for folder in ("wp-content/cache", "upload/cache", ".git/cache"):
        (site / folder).mkdir(parents=True)
    (site / "upload" / "photo.jpg").write_text("x")
    (site / "a").symlink_to(".")
    (site / "upload" / "b").symlink_to("..")
    found = sorted(str(path.relative_to(site)) for _, path in excluded(site, ["**/cache"]))
    assert found == ["upload/cache", "wp-content/cache"]
    assert [str(p.relative_to(site)) for p in expand(f"{site}/**")] == [
        ".", "a", "upload", "upload/b", "upload/cache", "upload/photo.jpg", "wp-content", "wp-content/cache"]
    assert [str(p.relative_to(site)) for p in expand(f"{site}/**/.git")] == [".git"]
    assert [str(p.relative_to(site)) for p in expand(f"{site}/*/cache")] == ["upload/cache", "wp-content/cache"]
