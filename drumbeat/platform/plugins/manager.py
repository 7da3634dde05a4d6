"""The plugin-manager factory: built once per process (app lifespan, worker boot).

It loads the ``drumbeat.plugins`` entry-point group (honouring the allow/block lists of
the settings), registers any extra plugin objects given (tests, embedding apps), checks
that every hook implementation matches a spec, and builds the action-type registry, which
refuses two action types with the same key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import importlib
from importlib.metadata import entry_points
from typing import Callable, Iterable

import pluggy

from drumbeat.platform.actions import ActionType
from drumbeat.platform.plugins.contributions import GraphQLContribution
from drumbeat.platform.plugins import hookspecs
from drumbeat.platform.plugins.markers import ENTRY_POINT_GROUP, PROJECT


class PluginError(RuntimeError):
    """A plugin cannot be loaded or conflicts with another one (raised at start-up)."""


@dataclass(frozen=True)
class PluginInfo:
    name: str
    source: str  # e.g. "entry point drumbeat.plugins (drumbeat 0.1.0)"
    action_types: tuple[str, ...]


@dataclass
class Plugins:
    manager: pluggy.PluginManager
    action_types: dict[str, ActionType]
    action_type_plugins: dict[str, str]  # action type key → plugin name
    template_filters: dict[str, Callable] = field(default_factory=dict)
    infos: list[PluginInfo] = field(default_factory=list)
    #: (plugin name, ``drumbeat.GraphQLContribution``), in registration order.
    graphql: list[tuple[str, GraphQLContribution]] = field(default_factory=list)
    #: Dotted paths of the plugins' Piccolo app modules (their tables and migrations).
    piccolo_apps: list[str] = field(default_factory=list)

    def tables(self) -> list[type]:
        """The Piccolo table classes of the plugins' apps."""
        return [table for path in self.piccolo_apps
                for table in importlib.import_module(path).APP_CONFIG.table_classes]

    def action_type(self, key: str) -> ActionType:
        try:
            return self.action_types[key]
        except KeyError:
            raise PluginError(f"unknown action type {key!r}") from None

    async def close(self) -> None:
        for action_type in self.action_types.values():
            await action_type.close()


def build_plugins(
    allow: Iterable[str] = (), block: Iterable[str] = (), extra: Iterable[object] = ()
) -> Plugins:
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(hookspecs)
    allow, block = set(allow), set(block)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in block or (allow and ep.name not in allow):
            manager.set_blocked(ep.name)
    try:
        manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    except Exception as exc:  # an entry point that fails to import
        raise PluginError(f"loading the {ENTRY_POINT_GROUP!r} entry points failed: {exc}") from exc
    for plugin in extra:
        manager.register(plugin)
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc)) from exc
    return _collect(manager)


def _collect(manager: pluggy.PluginManager) -> Plugins:
    """Call each plugin's implementations one by one, so every result stays attributable."""
    sources = {
        id(plugin): f"entry point {ENTRY_POINT_GROUP} ({dist.project_name} {dist.version})"
        for plugin, dist in manager.list_plugin_distinfo()
    }
    plugins = Plugins(manager=manager, action_types={}, action_type_plugins={})
    keys: dict[str, list[str]] = {}
    for impl in reversed(manager.hook.drumbeat_action_types.get_hookimpls()):
        for action_type in impl.function() or []:
            _register_action_type(plugins, impl.plugin_name, action_type)
            keys.setdefault(impl.plugin_name, []).append(action_type.key)
    for impl in reversed(manager.hook.drumbeat_template_filters.get_hookimpls()):
        for filter_name, function in (impl.function() or {}).items():
            if filter_name in plugins.template_filters:
                raise PluginError(
                    f"template filter {filter_name!r} is registered twice ({impl.plugin_name})"
                )
            plugins.template_filters[filter_name] = function
    for impl in reversed(manager.hook.drumbeat_graphql.get_hookimpls()):
        for contribution in impl.function() or []:
            if not isinstance(contribution, GraphQLContribution):
                raise PluginError(f"plugin {impl.plugin_name!r} returned {contribution!r} from "
                                  "drumbeat_graphql, not a GraphQLContribution")
            plugins.graphql.append((impl.plugin_name, contribution))
    for impl in reversed(manager.hook.drumbeat_piccolo_apps.get_hookimpls()):
        for path in impl.function() or []:
            try:
                importlib.import_module(path).APP_CONFIG
            except (ImportError, AttributeError) as exc:
                raise PluginError(f"plugin {impl.plugin_name!r}: {path!r} is not a Piccolo app "
                                  f"module with an APP_CONFIG ({exc})") from exc
            if path not in plugins.piccolo_apps:
                plugins.piccolo_apps.append(path)
    for name, plugin in manager.list_name_plugin():
        if plugin is None:  # blocked by the allow/block lists
            continue
        source = sources.get(id(plugin), "registered in code")
        plugins.infos.append(PluginInfo(name, source, tuple(keys.get(name, ()))))
    return plugins


def _register_action_type(plugins: Plugins, plugin_name: str, action_type: object) -> None:
    if not isinstance(action_type, ActionType):
        raise PluginError(f"plugin {plugin_name!r} returned {action_type!r}, not an ActionType")
    key = getattr(action_type, "key", None)
    if not key or not isinstance(key, str):
        raise PluginError(f"an action type of plugin {plugin_name!r} has no key")
    if key in plugins.action_types:
        other = plugins.action_type_plugins[key]
        raise PluginError(
            f"action type {key!r} is registered twice: by plugin {other!r} and by {plugin_name!r}"
        )
    plugins.action_types[key] = action_type
    plugins.action_type_plugins[key] = plugin_name
