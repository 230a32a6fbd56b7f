"""What the checksum manifest records of a snapshot (``Archive.facts``, docs/verify.md): the versions of the server
and of redis-cli, the memory in use and the keys per logical database, so a restore drill compares like with like.

Gathered right before the snapshot with one ``redis-cli INFO``; an answer that does not come leaves fewer facts
and a warning, never a failed snapshot. Keys with an expiry may be gone by the time the snapshot is taken.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

from corral import RunContext
from corral_source_redis.options import RedisConnect
from corral_source_redis.snapshot import redis_cli_command

TIMEOUT = 60  # seconds for INFO
_KEYSPACE = re.compile(r"^(db\d+):keys=(\d+),")
_VERSIONS: dict[str, str] = {}  # program -> its --version, asked once per run


def ask(run: RunContext, argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run a redis-cli call, stopped after :data:`TIMEOUT` (redis-cli has no connect timeout of its own)."""
    process = run.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return -1, "", f"no answer within {TIMEOUT} s"
    finally:
        run.forget(process)
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def tool_version(run: RunContext) -> str | None:
    """``redis-cli 7.0.15``, asked once per run."""
    if "redis-cli" not in _VERSIONS:
        code, out, _err = ask(run, ["redis-cli", "--version"])
        _VERSIONS["redis-cli"] = out.strip().splitlines()[0] if code == 0 and out.strip() else ""
    return _VERSIONS["redis-cli"] or None


def parse_info(text: str) -> dict[str, Any]:
    """``{"server", "bytes", "keys": {"db0": N}}`` from INFO's ``field:value`` lines; empty when it is no INFO."""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))
    if "redis_version" not in fields:
        return {}
    keys = {}
    for line in text.splitlines():
        match = _KEYSPACE.match(line.strip())
        if match:
            keys[match[1]] = int(match[2])
    used = fields.get("used_memory", "").strip()
    return {"server": fields["redis_version"].strip(), "bytes": int(used) if used.isdigit() else None, "keys": keys}


def snapshot_facts(run: RunContext, connect: RedisConnect) -> tuple[dict[str, Any], tuple[str, ...]]:
    """``{"server", "tool", "bytes", "keys": {"db0": N, ...}}`` and a warning when INFO did not answer."""
    facts: dict[str, Any] = {"server": None, "tool": tool_version(run)}
    argv, env = redis_cli_command(connect, "INFO")
    code, out, err = ask(run, argv, env)
    info = parse_info(out) if code == 0 else {}
    if not info:
        lines = [line.strip() for line in (err + out).splitlines() if line.strip()]
        cause = lines[0] if lines else f"redis-cli exited with code {code}"
        return facts, (f"facts: INFO did not answer: {cause}",)
    facts.update(info)
    return facts, ()
