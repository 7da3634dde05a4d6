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


@hookspec
def drumbeat_graphql() -> list:
    """Return :class:`drumbeat.GraphQLContribution` objects: Strawberry types whose fields
    are merged into ``Query``, ``Mutation`` and ``Subscription``."""


@hookspec
def drumbeat_piccolo_apps() -> list[str]:
    """Return the dotted paths of this plugin's Piccolo app modules (each with an
    ``APP_CONFIG``): its tables and the migrations that create them. ``drumbeat migrate``
    applies them after the core's (declare ``migration_dependencies`` on
    ``drumbeat.platform.piccolo_app`` when a table refers to a core one)."""
