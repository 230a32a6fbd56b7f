"""The readiness wait of the drill's throwaway server asks again only while the server starts (or before its
socket exists); any other refusal ends the wait at once with the server's line, not after 900 s."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from corral import RestoreError
from corral_source_postgresql import throwaway


class _Run:
    """Answers the probe with each of ``answers`` in turn (the last one for ever)."""

    def __init__(self, *answers: tuple[int, str]) -> None:
        self.answers, self.calls = list(answers), 0

    def run(self, args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        code, said = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return subprocess.CompletedProcess(args, code, b"", said.encode())


class _Running:
    returncode = None

    def poll(self) -> None:
        return None


def _ready(run: _Run, tmp_path: Path) -> str:
    return throwaway._ready(run, Path("/bin"), tmp_path, 5432, ["postgres"], _Running(), tmp_path / "log",  # type: ignore[arg-type]
                            throwaway.NO_PRELOAD)  # fmt: skip


def test_a_starting_server_is_asked_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throwaway.time, "sleep", lambda _: None)
    run = _Run((2, 'psql: error: connection to server on socket "/x/.s.PGSQL.5432" failed: No such file or directory'),
               (2, "psql: error: connection to server failed: FATAL:  the database system is starting up"),
               (0, ""))
    assert _ready(run, tmp_path) == "postgres" and run.calls == 3


@pytest.mark.parametrize("said", [
    'FATAL:  could not access file "corral_probe_lib": No such file or directory',
    'FATAL:  permission denied to set parameter "session_preload_libraries"',
    'FATAL:  role "postgres" is not permitted to log in',
])  # fmt: skip
def test_any_other_refusal_ends_the_wait_at_once(tmp_path: Path, said: str) -> None:
    run = _Run((2, f'psql: error: connection to server on socket "/x/.s.PGSQL.5432" failed: {said}'))
    with pytest.raises(RestoreError, match="refused corral's login as `postgres`") as caught:
        _ready(run, tmp_path)
    assert run.calls == 1 and said.split("  ", 1)[1] in str(caught.value)
