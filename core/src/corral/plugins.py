"""Finding and loading plugins: stevedore picks a driver by name, pluggy checks and calls its hooks.

A source or storage is a *driver*: only the ones a run's jobs name are imported. Notifiers are all loaded at
``start`` and hear the lifecycle hooks. A plugin that fails to import or breaks the contract is reported in one
line (distribution, version, error) and never stops the plugins that work.
"""

from __future__ import annotations

import functools
import importlib.metadata as metadata
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pluggy

from corral import hookspecs
from corral.debugging import explain
from corral.errors import PluginError, PluginMissing

log = logging.getLogger("corral")
logging.getLogger("stevedore").setLevel(logging.ERROR)  # its "Could not load" warnings duplicate ours

GROUPS = {"source": "corral.sources", "storage": "corral.storages", "notifier": "corral.notifiers"}
REQUIRED_HOOKS = {
    "source": ("corral_source_schema", "corral_source_dump"),
    "storage": ("corral_storage_schema", "corral_storage_filesystem"),
    "notifier": (),
}
# Where the plugins corral's authors publish live, for the "pip install ..." hint of a missing plugin.
KNOWN_DISTRIBUTIONS = {
    ("source", "desc_files"): "corral-source-files",
    ("source", "inc_files"): "corral-source-files",
    ("source", "external"): "corral-source-external",
    ("source", "mysql"): "corral-source-mysql",
    ("source", "mysql_xtradb"): "corral-source-mysql",
    ("source", "postgresql"): "corral-source-postgresql",
    ("source", "postgresql_hot"): "corral-source-postgresql",
    ("source", "mongodb"): "corral-source-mongodb",
    ("source", "redis"): "corral-source-redis",
    ("storage", "local"): "corral-storage-local",
    ("storage", "s3"): "corral-storage-s3",
    ("storage", "scp"): "corral-storage-ssh",
    ("storage", "sftp"): "corral-storage-ssh",
    ("storage", "ftp"): "corral-storage-ftp",
    ("storage", "smb"): "corral-storage-smb",
    ("storage", "webdav"): "corral-storage-webdav",
    ("storage", "nfs"): "corral-storage-nfs",
    ("notifier", "email"): "corral-notifier-email",
}


@dataclass(frozen=True)
class PluginInfo:
    """An installed entry point, as ``corral plugins`` shows it."""

    name: str
    kind: str
    distribution: str
    version: str
    error: str | None = None


@dataclass
class Driver:
    """A loaded source or storage plugin with its own hook caller (core defaults registered underneath)."""

    kind: str
    name: str
    manager: pluggy.PluginManager

    @property
    def hook(self) -> Any:
        return self.manager.hook

    @property
    def distribution(self) -> str:
        return distribution_of(self.kind, self.name)[0]

    @property
    def version(self) -> str:
        return distribution_of(self.kind, self.name)[1]


def new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    return manager


@functools.cache
def _registry() -> dict[tuple[str, str], tuple[str, str]]:
    """(group, name) -> (distribution, version) for every corral entry point, read once per process."""
    found = {}
    everything = metadata.entry_points()  # one scan of the installed distributions, not one per group
    about: dict[int, tuple[str, str]] = {}  # each distribution's METADATA parsed once (it was twice per entry point:
    for group in GROUPS.values():  # 130 ms of every `corral start`, for its run record's versions)
        for ep in everything.select(group=group):
            dist = ep.dist  # one object per distribution, shared by its entry points
            if dist is None:
                found[(group, ep.name)] = ("?", "?")
                continue
            if id(dist) not in about:
                meta = dist.metadata
                about[id(dist)] = (meta["Name"], meta["Version"])
            found[(group, ep.name)] = about[id(dist)]
    return found


def distribution_of(kind: str, name: str) -> tuple[str, str]:
    """The distribution and version that registers ``name`` in the kind's group, or ('?', '?')."""
    return _registry().get((GROUPS[kind], name), ("?", "?"))


def distributions() -> dict[str, str]:
    """Each distribution that registers a corral plugin, with its version, by name; no plugin is imported."""
    return dict(sorted(set(_registry().values()) - {("?", "?")}))


def installed_names(kind: str) -> list[str]:
    """Names registered in a kind's entry-point group, without importing anything."""
    return sorted({ep.name for ep in metadata.entry_points(group=GROUPS[kind])})


def install_hint(kind: str, name: str) -> str:
    known = KNOWN_DISTRIBUTIONS.get((kind, name))
    if known:
        return f"install it with `pip install {known}`"
    installed = ", ".join(installed_names(kind)) or "none"
    return f"no known plugin provides it (installed {kind}s: {installed})"


def _instantiate(obj: Any) -> Any:
    return obj() if inspect.isclass(obj) else obj


def _load_entry_point(kind: str, name: str) -> Any:
    """Import one entry point by name through stevedore; a failure becomes a one-line PluginError."""
    from stevedore import driver, exception  # deferred: keeps `corral --help` light

    failures: list[BaseException] = []

    def on_failure(_manager: Any, _ep: Any, exc: BaseException) -> None:
        failures.append(exc)

    try:
        manager = driver.DriverManager(
            GROUPS[kind], name, invoke_on_load=False, on_load_failure_callback=on_failure
        )
    except exception.NoMatches:
        if failures:
            dist, version = distribution_of(kind, name)
            exc = failures[0]
            raise PluginError(
                f"{kind} plugin `{name}` ({dist} {version}) failed to load: {explain(exc)}"
            ) from None
        raise PluginMissing(f"{kind} `{name}` is not installed: {install_hint(kind, name)}") from None
    except exception.MultipleMatches:
        raise PluginError(f"{kind} `{name}` is registered by several distributions; uninstall one") from None
    return manager.driver


def _where(kind: str, name: str) -> str:
    dist, version = distribution_of(kind, name)
    return f"{kind} plugin `{name}` ({dist} {version})"


def register(manager: pluggy.PluginManager, kind: str, name: str, plugin: Any) -> None:
    """Register a plugin object, rejecting one whose hooks do not match the contract."""
    try:
        manager.register(plugin, name=f"{kind}:{name}")
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        if manager.is_registered(plugin):
            manager.unregister(plugin)
        detail = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise PluginError(f"{_where(kind, name)} breaks the hook contract: {detail}") from None
    except ValueError as exc:
        raise PluginError(f"{_where(kind, name)} cannot be registered: {exc}") from None
    implemented = {impl.function.__name__ for impl in _impls_of(manager, plugin)}
    missing = [hook for hook in REQUIRED_HOOKS[kind] if hook not in implemented]
    if missing:
        manager.unregister(plugin)
        raise PluginError(f"{_where(kind, name)} breaks the hook contract: it does not implement {', '.join(missing)}")


def _impls_of(manager: pluggy.PluginManager, plugin: Any) -> list[Any]:
    return [impl for caller in manager.get_hookcallers(plugin) or [] for impl in caller.get_hookimpls()
            if impl.plugin is plugin]


def _checked_manager(kind: str, name: str) -> pluggy.PluginManager:
    """A manager holding the named plugin (above the core's storage defaults for a storage)."""
    plugin = _instantiate(_load_entry_point(kind, name))
    manager = new_manager()
    if kind == "storage":
        from corral import storage_defaults

        manager.register(storage_defaults, name="corral:storage_defaults")
    register(manager, kind, name, plugin)
    return manager


_DRIVERS: dict[tuple[str, str], Driver] = {}


def load_driver(kind: str, name: str) -> Driver:
    """Load the source or storage named in the config (cached for the process)."""
    key = (kind, name)
    if key not in _DRIVERS:
        _DRIVERS[key] = Driver(kind, name, _checked_manager(kind, name))
    return _DRIVERS[key]


def load_notifiers(report: Callable[[str], None]) -> pluggy.PluginManager:
    """Every installed notifier in one manager (one entry-point scan); one that fails is reported and left out."""
    from stevedore import extension

    def on_failure(_manager: Any, ep: Any, exc: BaseException) -> None:
        report(f"{_where('notifier', ep.name)} failed to load: {explain(exc)}")

    found = extension.ExtensionManager(GROUPS["notifier"], invoke_on_load=False, on_load_failure_callback=on_failure)
    manager = new_manager()
    for ext in sorted(found, key=lambda ext: ext.name):
        try:
            register(manager, "notifier", ext.name, _instantiate(ext.plugin))
        except PluginError as exc:
            report(str(exc))
    return manager


def list_plugins() -> list[PluginInfo]:
    """Every installed corral plugin, each loaded and checked, for ``corral plugins``."""
    infos = []
    for kind in GROUPS:
        for name in installed_names(kind):
            dist, version = distribution_of(kind, name)
            error = None
            try:
                _checked_manager(kind, name)
            except PluginError as exc:
                error = str(exc)
            infos.append(PluginInfo(name, kind, dist, version, error))
    return infos


def broadcast(manager: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> None:
    """Call every implementation of a lifecycle hook; one that raises is logged and the others still run."""
    caller = getattr(manager.hook, hook_name)
    for impl in reversed(caller.get_hookimpls()):
        try:
            impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
        except Exception as exc:  # a notifier's failure never changes the backup
            log.error("plugin `%s` failed in %s: %s", impl.plugin_name, hook_name, _typed(exc))


def _typed(exc: BaseException) -> str:
    """A notifier's error with its type, which says which of its failures it was (``MailError: ...``)."""
    name, line = type(exc).__name__, explain(exc)
    return line if line == name or line.startswith(f"{name}:") else f"{name}: {line}"
