"""An incremental chain is one tar run per level: a level must never write through a link an older one made, and
a damaged level is refused before any level is extracted."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

from corral.testing.cli import corral, local_storage, write_main

DAYS = ("2026-03-02T03:00:00", "2026-03-03T03:00:00")


def _chain(tmp_path: Path, site: Path) -> Path:
    config = write_main(tmp_path, [{"job": "chain", "type": "inc_files", "sources": [{"target": [str(site)]}],
                                    "storages": [local_storage(tmp_path / "b")]}])
    done = corral("start", "-c", str(config), env={"CORRAL_NOW": DAYS[0]})
    assert done.returncode == 0, done.stderr
    return config


def _member(name: str, kind: bytes, data: bytes = b"", link: str = "") -> tuple[tarfile.TarInfo, io.BytesIO | None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mtime = kind, link, 1_700_000_000
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, io.BytesIO(data) if kind == tarfile.REGTYPE else None


def _write(path: Path, members: list[tuple[tarfile.TarInfo, io.BytesIO | None]]) -> None:
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, data)


def _planted(tmp_path: Path) -> tuple[Path, Path]:
    """A full level planting `shop/d -> victim`, a day level holding `shop/d/pwned`; no manifest proves them."""
    site = tmp_path / "www" / "shop"
    site.mkdir(parents=True)
    (site / "index.php").write_text("x")
    config = _chain(tmp_path, site)
    assert corral("start", "-c", str(config), env={"CORRAL_NOW": DAYS[1]}).returncode == 0
    full, day = sorted((tmp_path / "b" / "chain" / "shop").rglob("*.tar"))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("keep me")
    _write(full, [_member("shop/", tarfile.DIRTYPE), _member("shop/d", tarfile.SYMTYPE, link=str(victim))])
    _write(day, [_member("shop/d/pwned", tarfile.REGTYPE, b"through the link\n")])
    for record in (tmp_path / "b" / "chain" / ".manifests").glob("*"):
        record.unlink()
    return config, victim


def test_a_level_never_writes_through_a_link_an_older_level_planted(tmp_path: Path) -> None:
    config, victim = _planted(tmp_path)
    out = tmp_path / "out"
    done = corral("restore", "chain", "--target", "shop", "--to", str(out), "-c", str(config))
    assert done.returncode == 1
    assert sorted(os.listdir(victim)) == ["precious"]
    [line] = done.stderr.splitlines()
    assert "`shop/d/pwned` would be written through the symlink" in line and f"`{out}/shop/d`" in line, line
    assert os.stat(out).st_mode & 0o777 == 0o700  # the mode it had, given back

    drill = corral("drill", "-c", str(config), env={"CORRAL_NOW": "2026-03-03T04:00:00"})
    assert drill.returncode == 1
    assert sorted(os.listdir(victim)) == ["precious"]
    assert "would be written through the symlink" in drill.stdout + drill.stderr


def test_a_level_is_judged_by_the_names_gnu_tar_reads(tmp_path: Path) -> None:
    """A member written by GNU tar -g carries old-GNU time fields where Python's tarfile reads a name prefix
    (`15304160403/shop/d/pwned`): the check lists the level with tar itself, the name tar extracts."""
    config, victim = _planted(tmp_path)
    made = tmp_path / "made"
    (made / "shop" / "d").mkdir(parents=True)
    (made / "shop" / "d" / "pwned").write_text("through the link\n")
    day = next((tmp_path / "b" / "chain" / "shop").rglob("*.day.tar"))
    subprocess.run(["tar", "-c", "-g", str(tmp_path / "snar"), "-f", str(day), "-C", str(made), "--no-recursion",
                    "shop/d/pwned"], check=True)
    out = tmp_path / "out"
    done = corral("restore", "chain", "--target", "shop", "--to", str(out), "-c", str(config))
    assert done.returncode == 1 and "`shop/d/pwned` would be written through the symlink" in done.stderr, done
    assert sorted(os.listdir(victim)) == ["precious"]


def test_a_link_that_became_a_folder_restores_as_the_folder(tmp_path: Path) -> None:
    site = tmp_path / "www" / "shop"
    site.mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (site / "d").symlink_to(tmp_path / "elsewhere")
    config = _chain(tmp_path, site)
    (site / "d").unlink()
    (site / "d").mkdir()
    (site / "d" / "kept.txt").write_text("inside the site\n")
    assert corral("start", "-c", str(config), env={"CORRAL_NOW": DAYS[1]}).returncode == 0
    out = tmp_path / "out"
    done = corral("restore", "chain", "--target", "shop", "--to", str(out), "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert not (out / "shop" / "d").is_symlink()
    assert (out / "shop" / "d" / "kept.txt").read_text() == "inside the site\n"
    assert os.listdir(tmp_path / "elsewhere") == []


def test_a_damaged_later_level_leaves_nothing_extracted(tmp_path: Path) -> None:
    site = tmp_path / "www" / "shop"
    site.mkdir(parents=True)
    (site / "index.php").write_text("v1\n")
    config = _chain(tmp_path, site)
    (site / "index.php").write_text("v2\n")
    assert corral("start", "-c", str(config), env={"CORRAL_NOW": DAYS[1]}).returncode == 0
    day = next((tmp_path / "b").rglob("*.day.tar"))
    data = bytearray(day.read_bytes())
    data[600] ^= 0xFF  # a flipped byte, same size: found only by its digest
    day.write_bytes(bytes(data))
    out = tmp_path / "out"
    done = corral("restore", "chain", "--target", "shop", "--to", str(out), "-c", str(config))
    assert done.returncode == 1 and "read back is not what was stored" in done.stderr
    assert list(out.rglob("*")) == []


def test_a_forced_restore_never_writes_through_a_link_already_in_the_folder(tmp_path: Path) -> None:
    """desc_files, one tar run: tar guards the links it makes, not one already in --to (a site user's, left by an
    earlier restore). The archive's folder replaces such a link; an archive that writes below it without making
    the folder (not one tar made: here restored with --no-verify) is refused."""
    site = tmp_path / "www" / "shop"
    (site / "d").mkdir(parents=True)
    (site / "d" / "index.php").write_text("restored\n")
    config = write_main(tmp_path, [{"job": "web", "type": "desc_files", "sources": [{"target": [str(site)]}],
                                    "storages": [local_storage(tmp_path / "b")]}])
    assert corral("start", "-c", str(config), env={"CORRAL_NOW": DAYS[0]}).returncode == 0
    victim = tmp_path / "victim"
    victim.mkdir()
    out = tmp_path / "out"
    (out / "shop").mkdir(parents=True)
    (out / "shop" / "d").symlink_to(victim)
    done = corral("restore", "web", "--target", "shop", "--to", str(out), "--force", "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert os.listdir(victim) == []
    assert not (out / "shop" / "d").is_symlink() and (out / "shop" / "d" / "index.php").read_text() == "restored\n"

    (out / "shop" / "d" / "index.php").unlink()
    (out / "shop" / "d").rmdir()
    (out / "shop" / "d").symlink_to(victim)
    [archive] = (tmp_path / "b" / "web" / "shop").glob("shop_*")
    with tarfile.open(archive, "w:gz" if archive.name.endswith(".gz") else "w") as forged:
        info, data = _member("shop/d/index.php", tarfile.REGTYPE, b"through the link\n")
        forged.addfile(info, data)
    done = corral("restore", "web", "--target", "shop", "--to", str(out), "--force", "--no-verify", "-c",
                  str(config))
    assert done.returncode == 1 and "`shop/d/index.php` would be written through the symlink" in done.stderr, done
    assert os.listdir(victim) == []
