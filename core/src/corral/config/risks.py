"""What a valid configuration still puts at risk: its secrets, and settings that expose them.

:func:`secret_values` finds every secret (``SecretStr``) with the key that holds it, for the masking of logs and
reports; :func:`config_warnings` turns into one-line warnings what the plugins flag through ``corral_config_warnings``
(a password sent in clear) and secrets so short that masking them also masks ordinary text. ``corral check``
prints the warnings; ``corral start`` logs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SecretStr

from corral.debugging import explain
from corral.masking import SHORT_SECRET, Masker
from corral.plugins import load_driver

if TYPE_CHECKING:
    import pluggy

    from corral.config.validate import Config


def _sections(config: Config, main_where: str) -> Iterator[tuple[str, str, Any]]:
    """(where, key prefix, model) for ``main``, every job's keys, sources and storage entries."""
    yield f"{main_where}: main", "", config.main
    for job in config.jobs:
        where = f"{job.file}:{job.line}: job `{job.name}`"
        yield where, "", job.options
        for index, source in enumerate(job.sources):
            yield where, f"sources[{index}].", source
        for storage in job.storages:
            yield f"{storage.file}:{storage.line}: job `{job.name}`: storage `{storage.name}`", "", storage.options


def secrets_in(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, secret) for every non-empty ``SecretStr`` inside a model, list or mapping."""
    if isinstance(value, SecretStr):
        if value.get_secret_value():
            yield key, value.get_secret_value()
    elif isinstance(value, list | tuple | set):
        for index, item in enumerate(value):
            yield from secrets_in(item, f"{key}[{index}]")
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from secrets_in(item, f"{key}.{name}")
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from secrets_in(getattr(value, name), f"{key}.{name}" if key else name)


def secret_values(config: Config, main_where: str = "") -> Iterator[tuple[str, str, str]]:
    """(where, key, value) of every secret in the config."""
    for where, prefix, model in _sections(config, main_where):
        for key, value in secrets_in(model, prefix.rstrip(".")):
            yield where, key, value


def config_warnings(config: Config, main_where: str) -> list[str]:
    """The plugins' warnings, then one per secret shorter than :data:`~corral.masking.SHORT_SECRET`."""
    lines = _plugin_warnings(config, main_where)
    for where, key, value in secret_values(config, main_where):
        if len(value) < SHORT_SECRET:
            lines.append(
                f"{where}: `{key}` is only {len(value)} character(s) long: corral masks it in every log "
                "line and report, ordinary text included; use a longer secret"
            )
    return lines


def _plugin_warnings(config: Config, main_where: str) -> list[str]:
    lines = []
    mask = Masker(config.secrets)  # for a failing check's traceback (--debug), shown before the log is set up
    if config.notifiers is not None:
        lines += _ask(config.notifiers, f"{main_where}: main", mask, main=config.main, storage=None)
    for job in config.jobs:
        for storage in job.storages:
            if storage.enable:
                where = f"{storage.file}:{storage.line}: job `{job.name}`: storage `{storage.name}`"
                lines += _ask(load_driver("storage", storage.name).manager, where, mask, main=config.main,
                              storage=storage)
    return lines


def _ask(manager: pluggy.PluginManager, where: str, mask: Masker, **kwargs: Any) -> list[str]:
    """Every implementation's lines, each prefixed with ``where``; a plugin that raises is named, not fatal."""
    lines = []
    for impl in reversed(manager.hook.corral_config_warnings.get_hookimpls()):
        try:
            answer: Any = impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            found = [str(line) for line in answer or []]
        except Exception as exc:  # a broken check must not stop `corral check` or a run
            found = [f"plugin `{impl.plugin_name}` failed in corral_config_warnings: {explain(exc, mask)}"]
        lines += [f"{where}: {line}" for line in found]
    return lines
