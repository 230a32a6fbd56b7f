"""The exception hierarchy: every error a user can cause maps to one line and an exit code.

Exit codes: 0 every job succeeded; 1 a job, source or storage failed; 2 the configuration or the command line is
wrong; 3 another run holds the lock; 130/143 interrupted by SIGINT/SIGTERM.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3


class CorralError(Exception):
    """Base of every error corral reports as one line instead of a traceback."""

    exit_code = EXIT_FAILED


class ConfigError(CorralError):
    """The configuration is wrong; ``problems`` holds one ready-to-print line per problem."""

    exit_code = EXIT_USAGE

    def __init__(self, problems: list[str]) -> None:
        problems = [one_line(problem) for problem in problems]
        super().__init__("\n".join(problems))
        self.problems = problems


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped: a key named ``"a\\nb"`` stays one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class PluginError(CorralError):
    """A plugin is missing, fails to import or breaks the hook contract."""


class PluginMissing(PluginError):
    """No installed distribution registers the plugin a config asks for."""

    exit_code = EXIT_USAGE


class AlreadyRunning(CorralError):
    """Another corral run holds the lock."""

    exit_code = EXIT_LOCKED


class DumpError(CorralError):
    """A source could not produce its archive; the message names the cause (raised by source plugins)."""


class StorageError(CorralError):
    """A storage could not be reached, listed or written (raised by storage plugins or the core)."""


class StorageUnreachable(StorageError):
    """The storage did not answer (connection refused or lost, timed out) after the plugin's own retries.

    The job takes the storage out for the rest of its archives instead of waiting for the same timeouts again.
    Plugins whose filesystem is a :class:`corral.remote.RemoteFileSystem` need not raise it: the builtin
    ``ConnectionError``/``TimeoutError`` it raises after its retries count the same.
    """


class Interrupted(CorralError):
    """The run received SIGINT or SIGTERM."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum
        self.exit_code = 128 + signum
        self.job_result: object = None  # the JobResult of the job it cut short, once the runner added it
