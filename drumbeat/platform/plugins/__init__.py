"""The plugin system: hook specs, the manager factory and the action-type registry."""

from drumbeat.platform.plugins.manager import PluginError, Plugins, build_plugins
from drumbeat.platform.plugins.markers import ENTRY_POINT_GROUP, hookimpl

__all__ = ["ENTRY_POINT_GROUP", "PluginError", "Plugins", "build_plugins", "hookimpl"]
