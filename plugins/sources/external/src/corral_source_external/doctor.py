"""``corral doctor`` for ``external``: the program ``dump_cmd`` starts is there, runnable, and changeable by nobody
but root or the running user (the script itself is not run: it would make an archive)."""

from __future__ import annotations

import os
import shlex
import shutil

from corral import Check
from corral_source_external import ExternalJob, program_problem


def check(options: ExternalJob) -> list[Check]:
    shell = shutil.which("bash") or "/bin/sh"
    try:
        words = shlex.split(options.dump_cmd, comments=True)
    except ValueError as exc:
        return [Check.fail(f"dump_cmd cannot be split into words: {exc}")]
    if not words:
        return [Check.fail("dump_cmd is empty")]
    found = words[0] if "/" in words[0] else shutil.which(words[0])
    if found is None:
        return [Check.fail(f"dump_cmd: `{words[0]}` is not on PATH (or is a shell built-in: {shell} runs it)")]
    if not os.path.isfile(found):
        return [Check.fail(f"dump_cmd: `{found}` does not exist")]
    if not os.access(found, os.X_OK):
        return [Check.fail(f"dump_cmd: `{found}` is not executable (chmod +x)")]
    problem = program_problem(shlex.join([found]))
    if problem:
        return [Check.fail(f"dump_cmd: {problem}")]
    return [Check.ok(f"dump_cmd starts `{found}`, runnable, changeable only by root or this user; run by {shell}")]
