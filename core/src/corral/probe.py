"""``corral doctor`` on one storage of a job: connect, list, store a small probe file, read it back, delete it.

Every step goes through the storage's own hooks, as a run's would: the probe is streamed when the storage takes
streams (``corral_storage_open_upload``), else put from a file (``corral_storage_put``), all or nothing under a
hidden temp name either way. It is stored in the job's folder on the storage (which it creates, as the first run
would) under a name corral owns, ``.corral-doctor-<random>``, which no rotation or listing takes for a backup.
"""

from __future__ import annotations

import os
import posixpath
import secrets
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from corral.archive import RemoteFile
from corral.config.models import JobConfig, StorageConfig
from corral.debugging import explain
from corral.doctoring import Check
from corral.run import human_size

PROBE_PREFIX = ".corral-doctor-"
T = TypeVar("T")


class StepFailed(Exception):
    """One step of the probe failed: ``step`` and the cause in one line."""

    def __init__(self, step: str, cause: str) -> None:
        super().__init__(f"{step}: {cause}")


@dataclass
class Probed:
    """What the probe found: the check, the storage's listing of the job's folder (for the work area's needs),
    and whether archives reach this storage through a temp file (``spooled``)."""

    check: Check
    listed: list[RemoteFile] = field(default_factory=list)
    spooled: bool = False
    storage: Any = None  # the opened corral.runner.Storage, for corral_storage_doctor; closed by the caller


def one_line(exc: BaseException) -> str:
    """The first line of an error, its type named when it is not corral's own; a bug's says where it was raised,
    and with ``--debug`` its traceback is logged (:func:`corral.debugging.explain`)."""
    return explain(exc)


def probe(config: StorageConfig, job: JobConfig, label: str, spool: bool) -> Probed:
    """Check one enabled storage of ``job``; ``spool``: the job writes every archive to a temp file first."""
    from corral.runner import Storage

    times: list[str] = []

    def timed(step: str, action: Callable[[], T]) -> T:
        started = time.monotonic()
        try:
            value = action()
        except Exception as exc:
            raise StepFailed(step, one_line(exc)) from None
        times.append(f"{step} {time.monotonic() - started:.2f} s")
        return value

    probed = Probed(Check.fail(""))
    try:
        storage = probed.storage = timed("connect", lambda: Storage(config, job, label))
        probed.listed = timed("list", storage.list)
        remote = posixpath.join(storage.root, f"{PROBE_PREFIX}{secrets.token_hex(4)}")
        payload = f"corral doctor probe {os.getpid()} {secrets.token_hex(16)}\n".encode()
        probed.spooled = timed("put", lambda: _store(storage, remote, payload, spool))
        try:
            back = timed("read", lambda: _read(storage, remote))
        except StepFailed:
            with suppress(Exception):
                storage.delete(remote)
            raise
        try:
            timed("delete", lambda: storage.delete(remote))
        except StepFailed as exc:
            raise StepFailed(str(exc), f"the probe `{remote}` stays on the storage") from None
        if back != payload:
            raise StepFailed("read", f"the probe came back changed ({len(back)} of {len(payload)} bytes)")
    except StepFailed as exc:
        probed.check = Check.fail(f"{exc}{_done(times)}")
        return probed
    size = human_size(sum(item.size for item in probed.listed))
    how = "put from a temp file" if probed.spooled else "streamed"
    probed.check = Check.ok(f"{storage.location}{storage.root}: {len(probed.listed)} file(s), {size}; probe {how}, "
                            f"read back and deleted; {', '.join(times)}")
    return probed


def _done(times: list[str]) -> str:
    return f" (after {', '.join(times)})" if times else ""


def _store(storage: Any, remote: str, payload: bytes, spool: bool) -> bool:
    """Store the probe as the run stores an archive; returns True when it went through a temp file."""
    upload = None if spool else storage.open_upload(remote)
    if upload is not None:
        try:
            upload.write(payload)
            upload.commit(len(payload))
        except BaseException as exc:
            with suppress(Exception):
                upload.abort(exc)
            raise
        return False
    with tempfile.TemporaryDirectory(prefix="corral-doctor-") as folder:
        local = Path(folder) / "probe"
        local.write_bytes(payload)
        storage.put(local, remote)
    return True


def _read(storage: Any, remote: str) -> bytes:
    stream = storage.open_read(remote)
    try:
        return bytes(stream.read())
    finally:
        stream.close()
