"""Plugin loading with real entry points: broken, contract-breaking and missing plugins degrade, never brick."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.testing.cli import corral, local_storage, write_main

BAD_HOOKS = '''
from corral import hookimpl

@hookimpl
def corral_source_schema():
    return None

@hookimpl
def corral_source_dump(jobb, tmp_dir):  # misspelled argument: not in the contract
    return iter(())
'''


@pytest.fixture
def broken_site(tmp_path: Path) -> dict[str, str]:
    """A distribution on PYTHONPATH whose entry points are broken in three different ways."""
    site = tmp_path / "site"
    info = site / "corral_source_broken-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: corral-source-broken\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(
        "[corral.sources]\nbroken_type = corral_no_such_module\ncontract_breaker = corral_bad_hooks\n\n"
        "[corral.notifiers]\nbad_notifier = corral_no_such_notifier\n"
    )
    (site / "corral_bad_hooks.py").write_text(BAD_HOOKS)
    return {"PYTHONPATH": str(site)}


def test_plugins_command_lists_each_broken_entry_point_in_one_line(broken_site: dict[str, str]) -> None:
    done = corral("plugins", env=broken_site)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert any(line.startswith("source    desc_files       corral-source-files ") for line in lines)
    broken = [line for line in lines if "BROKEN" in line]
    assert len(broken) == 3
    assert any("source plugin `broken_type` (corral-source-broken 1.2.3) failed to load: ModuleNotFoundError: "
               "No module named 'corral_no_such_module'" in line for line in broken)
    assert any("source plugin `contract_breaker` (corral-source-broken 1.2.3) breaks the hook contract" in line
               and "jobb" in line for line in broken)


def test_jobs_of_working_plugins_still_run(tmp_path: Path, broken_site: dict[str, str]) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f").write_text("x")
    backups = tmp_path / "backups"
    jobs = [
        {"job": "uses-broken", "type": "broken_type", "sources": [{"target": ["x"]}],
         "storages": [local_storage(backups)]},
        {"job": "uses-breaker", "type": "contract_breaker", "sources": [{}], "storages": [local_storage(backups)]},
        {"job": "data", "type": "desc_files", "sources": [{"target": [str(tmp_path / "data")]}],
         "storages": [local_storage(backups)]},
    ]
    main = write_main(tmp_path, jobs)
    done = corral("start", "--verbose", "-c", str(main), env=broken_site)
    assert done.returncode == 1
    assert len(list((backups / "data").rglob("*.tar"))) == 1
    assert "[ERROR] [uses-broken] job cannot run: source plugin `broken_type` (corral-source-broken 1.2.3) " \
           "failed to load: ModuleNotFoundError: No module named 'corral_no_such_module'" in done.stderr
    assert "[ERROR] [uses-breaker] job cannot run: source plugin `contract_breaker` (corral-source-broken 1.2.3) " \
           "breaks the hook contract" in done.stderr
    assert "notifier plugin `bad_notifier` (corral-source-broken 1.2.3) failed to load" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_reports_the_broken_job(tmp_path: Path, broken_site: dict[str, str]) -> None:
    jobs = [{"job": "uses-broken", "type": "broken_type", "storages": [local_storage(tmp_path)]}]
    done = corral("check", "-c", str(write_main(tmp_path, jobs)), env=broken_site)
    assert done.returncode == 1
    expected = "job `uses-broken` cannot run: source plugin `broken_type` (corral-source-broken 1.2.3) failed"
    assert expected in done.stderr
