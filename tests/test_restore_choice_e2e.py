"""`corral restore` never merges into a folder that has files without `--force`, and picks one archive of a day
by time (`--date 2026-03-01 09:00`) or by name (`--archive NAME`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.testing.cli import corral, local_storage, write_main

MORNING, EVENING = "2026-03-01T03:00:00", "2026-03-01T15:00:00"


@pytest.fixture(scope="module")
def two_a_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site backed up twice on March 1st (morning, evening) and once on the 2nd by a `desc_files` and an
    `inc_files` job: `index.html` says when. Tests only read the backups."""
    tmp_path = tmp_path_factory.mktemp("backed-up")
    site = tmp_path / "www" / "site"
    site.mkdir(parents=True)
    jobs = [{"job": job, "type": job, "sources": [{"target": [str(site)]}], "storages": [local_storage(tmp_path / "b")]}
            for job in ("desc_files", "inc_files")]
    main = write_main(tmp_path, jobs)
    for now in (MORNING, EVENING, "2026-03-02T03:00:00"):
        (site / "index.html").write_text(f"{now}\n")
        done = corral("start", "-c", str(main), env={"CORRAL_NOW": now})
        assert done.returncode == 0, done.stderr
    return main


def restore(main: Path, job: str, dest: Path, *choice: str) -> tuple[int, list[str], str]:
    done = corral("restore", job, "--target", "site", "--to", str(dest), *choice, "-c", str(main))
    return done.returncode, done.stderr.strip().splitlines(), done.stdout


def archive_name(main: Path, job: str, stamp: str) -> str:
    (found,) = (main.parent / "b" / job / "site").rglob(f"site_{stamp}.*tar*")
    return found.name


@pytest.mark.parametrize("job", ["desc_files", "inc_files"])
def test_a_folder_with_files_is_refused_and_left_as_it_was(two_a_day: Path, tmp_path: Path, job: str) -> None:
    dest = tmp_path / "r"
    (dest / "site").mkdir(parents=True)
    (dest / "site" / "index.html").write_text("the live site\n")
    (dest / "notes.txt").write_text("mine\n")

    code, err, _ = restore(two_a_day, job, dest, "--date", "2026-03-01")

    assert code == 2 and len(err) == 1, err
    assert f"`{dest}`" in err[0] and "2 entries" in err[0] and "use --force to restore into it anyway" in err[0]
    assert (dest / "site" / "index.html").read_text() == "the live site\n"
    assert sorted(p.name for p in dest.iterdir()) == ["notes.txt", "site"]


@pytest.mark.parametrize("job", ["desc_files", "inc_files"])
def test_force_restores_into_a_folder_with_files(two_a_day: Path, tmp_path: Path, job: str) -> None:
    dest = tmp_path / "r"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine\n")

    code, err, _ = restore(two_a_day, job, dest, "--date", "2026-03-01", "--force")

    assert code == 0, err
    assert (dest / "site" / "index.html").read_text() == f"{EVENING}\n"
    assert (dest / "notes.txt").read_text() == "mine\n"


def test_an_empty_folder_needs_no_force(two_a_day: Path, tmp_path: Path) -> None:
    dest = tmp_path / "r"
    dest.mkdir()
    code, err, _ = restore(two_a_day, "desc_files", dest, "--date", "2026-03-01")
    assert code == 0, err
    assert (dest / "site" / "index.html").read_text() == f"{EVENING}\n"


@pytest.mark.parametrize("job", ["desc_files", "inc_files"])
@pytest.mark.parametrize(("when", "made"), [
    ("2026-03-01 09:00", MORNING), ("2026-03-01T03:00", MORNING), ("2026-03-01T14:59:59", MORNING),
    ("2026-03-01T15:00:00", EVENING), ("2026-03-01", EVENING), ("2026-03-02 03:00", "2026-03-02T03:00:00"),
])
def test_a_date_with_a_time_picks_the_archive_made_at_or_before_it(two_a_day: Path, tmp_path: Path, job: str,
                                                                   when: str, made: str) -> None:
    dest = tmp_path / "r"
    code, err, _ = restore(two_a_day, job, dest, "--date", when)
    assert code == 0, err
    assert (dest / "site" / "index.html").read_text() == f"{made}\n"


def test_a_time_before_the_first_archive_is_one_line(two_a_day: Path, tmp_path: Path) -> None:
    code, err, _ = restore(two_a_day, "desc_files", tmp_path / "r", "--date", "2026-03-01 02:59")
    assert code == 1 and len(err) == 1 and "2026-03-01 02:59" in err[0], err


@pytest.mark.parametrize("job", ["desc_files", "inc_files"])
def test_the_last_day_there_is_means_the_newest(two_a_day: Path, tmp_path: Path, job: str) -> None:
    """`--date 9999-12-31` (what an admin types for "the latest") ends at datetime's last moment, not past it."""
    dest = tmp_path / "r"
    code, err, _ = restore(two_a_day, job, dest, "--date", "9999-12-31 23:59")
    assert code == 0, err
    assert (dest / "site" / "index.html").read_text() == "2026-03-02T03:00:00\n"
    code, err, stdout = restore(two_a_day, job, tmp_path / "r2", "--date", "9999-12-31")
    assert code == 0, err
    assert "as of 9999-12-31 into" in stdout


def test_a_year_before_1000_is_shown_with_four_digits(two_a_day: Path, tmp_path: Path) -> None:
    code, err, _ = restore(two_a_day, "desc_files", tmp_path / "r", "--date", "0001-01-01")
    assert code == 1 and len(err) == 1 and "on or before 0001-01-01" in err[0], err


@pytest.mark.parametrize("job", ["desc_files", "inc_files"])
def test_archive_picks_one_by_name(two_a_day: Path, tmp_path: Path, job: str) -> None:
    name = archive_name(two_a_day, job, "2026-03-01_03-00-00")
    dest = tmp_path / "r"

    code, err, out = restore(two_a_day, job, dest, "--archive", name)

    assert code == 0, err
    assert (dest / "site" / "index.html").read_text() == f"{MORNING}\n"
    assert name in out


def test_archive_of_an_incremental_chain_applies_the_chain_up_to_it(two_a_day: Path, tmp_path: Path) -> None:
    name = archive_name(two_a_day, "inc_files", "2026-03-01_15-00-00")
    dest = tmp_path / "r"

    code, err, out = restore(two_a_day, "inc_files", dest, "--archive", name)

    assert code == 0, err
    assert (dest / "site" / "index.html").read_text() == f"{EVENING}\n"
    applied = [line.split("`")[1].rsplit("/", 1)[-1] for line in out.splitlines() if line.startswith("extracted ")]
    assert applied == [archive_name(two_a_day, "inc_files", "2026-03-01_03-00-00"), name]


@pytest.mark.parametrize("job", ["desc_files", "inc_files"])
def test_an_unknown_archive_name_lists_the_nearest(two_a_day: Path, tmp_path: Path, job: str) -> None:
    near = archive_name(two_a_day, job, "2026-03-01_03-00-00")
    dest = tmp_path / "r"

    code, err, _ = restore(two_a_day, job, dest, "--archive", near.replace("03-00-00", "04-00-00"))

    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("corral: error: ") and near in err[0], err
    assert not dest.exists()


@pytest.mark.parametrize(("choice", "said"), [
    (("--date", "2026-03-01", "--archive", "site_2026-03-01_03-00-00.tar"), "not both"),
    (("--date", "2026-03-01 9am"), "a time like 2026-07-24 09:00"),
])
def test_date_and_archive_are_one_or_the_other(two_a_day: Path, tmp_path: Path, choice: tuple[str, ...],
                                               said: str) -> None:
    code, err, _ = restore(two_a_day, "desc_files", tmp_path / "r", *choice)
    assert code == 2 and len(err) == 1 and said in err[0], err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("job", ["desc_files", "inc_files"])
def test_without_a_date_the_newest_backup_is_restored(two_a_day: Path, tmp_path: Path, job: str) -> None:
    code, err, out = restore(two_a_day, job, tmp_path / "r")
    assert code == 0, err
    assert (tmp_path / "r" / "site" / "index.html").read_text() == "2026-03-02T03:00:00\n"
    assert out.splitlines()[-1] == f"restored `site` from the newest backup into {tmp_path / 'r'}"


@pytest.mark.parametrize("job", ["desc_files", "inc_files"])
def test_the_target_may_be_named_by_its_source_path(two_a_day: Path, tmp_path: Path, job: str) -> None:
    site = two_a_day.parent / "www" / "site"
    done = corral("restore", job, "--target", f"{site}/", "--to", str(tmp_path / "r"), "-c", str(two_a_day))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r" / "site" / "index.html").read_text() == "2026-03-02T03:00:00\n"


def test_an_unknown_target_lists_the_jobs_targets(two_a_day: Path, tmp_path: Path) -> None:
    done = corral("restore", "desc_files", "--target", "/var/www/nothere", "--to", str(tmp_path / "r"),
                  "-c", str(two_a_day))
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(err) == 1, err
    assert err[0] == "corral: error: job `desc_files` has no target `/var/www/nothere` on storage local; its " \
                     "targets: site"
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("job", ["desc_files", "inc_files"])
def test_a_dry_run_says_the_plan_and_changes_nothing(two_a_day: Path, tmp_path: Path, job: str) -> None:
    code, err, out = restore(two_a_day, job, tmp_path / "r", "--date", "2026-03-01", "--dry-run")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[-1] == "dry run: nothing was changed"
    would = [line for line in lines if line.startswith("would apply ")]
    assert len(would) == (1 if job == "desc_files" else 2), lines
    assert archive_name(two_a_day, job, "2026-03-01_15-00-00") in would[-1]
    assert not (tmp_path / "r").exists()
