"""Run the Piccolo migrations of Drumbeat's core app and of the plugins' apps."""

from __future__ import annotations

import os
from typing import Sequence

from drumbeat.settings import Settings

CONF_MODULE = "drumbeat.platform.piccolo_conf"
CORE_APP = "drumbeat.platform.piccolo_app"


async def migrate(plugin_apps: Sequence[str] = ()) -> None:
    """Apply every pending migration (the core's, then the plugin apps' given as dotted
    module paths) to the database bound by ``database.connect``."""
    os.environ["PICCOLO_CONF"] = CONF_MODULE
    from piccolo.apps.migrations.commands.forwards import run_forwards
    from piccolo.conf.apps import AppRegistry

    from drumbeat.platform import piccolo_conf

    piccolo_conf.APP_REGISTRY = AppRegistry(apps=[CORE_APP, *plugin_apps])
    result = await run_forwards(app_name="all", migration_id="all", fake=False)
    if not result.success:
        raise RuntimeError(f"migrations failed: {result.message}")


async def migrate_database(settings: Settings, extra_plugins: Sequence[object] = ()) -> None:
    """Connect with ``settings``, apply the migrations of the core and of the plugins the
    settings enable, and disconnect (``drumbeat migrate``)."""
    from drumbeat.platform.database import connect
    from drumbeat.platform.plugins import build_plugins

    plugins = build_plugins(settings.plugins_allow, settings.plugins_block, extra_plugins)
    db = await connect(settings, plugins.tables())
    try:
        await migrate(plugins.piccolo_apps)
    finally:
        await db.stop()


async def pending_migrations(plugin_apps: Sequence[str] = ()) -> tuple[int, int]:
    """(pending, total): how many migrations of the core and of ``plugin_apps`` have not run
    on the database bound by ``database.connect`` (every one when Piccolo's migration table
    is missing), and how many there are. Only reads: unlike Piccolo's ``check``, it creates
    no table."""
    os.environ["PICCOLO_CONF"] = CONF_MODULE
    from piccolo.apps.migrations.commands.base import BaseMigrationManager
    from piccolo.apps.migrations.tables import Migration
    from piccolo.conf.apps import AppRegistry

    registry = AppRegistry(apps=[CORE_APP, *plugin_apps])
    finder = BaseMigrationManager()
    table_exists = await Migration.table_exists().run()
    pending = total = 0
    for app_config in registry.app_configs.values():
        modules = finder.get_migration_modules(app_config.resolved_migrations_folder_path)
        ran = (set(await Migration.get_migrations_which_ran(app_name=app_config.app_name))
               if table_exists else set())
        ids = set(finder.get_migration_ids(modules))
        pending += len(ids - ran)
        total += len(ids)
    return pending, total
