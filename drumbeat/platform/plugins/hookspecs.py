"""Every hook a Drumbeat plugin may implement.

Hooks are synchronous and only *register* things; I/O happens later, in an action
type's ``execute``, which the worker awaits. Collector hooks return a list (or dict);
pluggy gathers one result per plugin.
"""

from __future__ import annotations

from typing import Callable

from drumbeat.platform.plugins.markers import hookspec


@hookspec
def drumbeat_action_types() -> list:
    """Return the :class:`drumbeat.ActionType` instances this plugin provides."""


@hookspec
def drumbeat_template_filters() -> dict[str, Callable]:
    """Return Jinja filters (name → function) available to every template."""
