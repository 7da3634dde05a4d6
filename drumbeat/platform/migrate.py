"""Run the Piccolo migrations of Drumbeat's core app (and of plugins that ship apps)."""

from __future__ import annotations

import os

CONF_MODULE = "drumbeat.platform.piccolo_conf"


async def migrate() -> None:
    """Apply every pending migration to the database bound by ``database.connect``."""
    os.environ["PICCOLO_CONF"] = CONF_MODULE
    from piccolo.apps.migrations.commands.forwards import run_forwards

    result = await run_forwards(app_name="all", migration_id="all", fake=False)
    if not result.success:
        raise RuntimeError(f"migrations failed: {result.message}")
