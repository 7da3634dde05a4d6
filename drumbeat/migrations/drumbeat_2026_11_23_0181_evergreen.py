"""Evergreen campaigns: stay RUNNING when every delivery and enrollment has finished, so
triggers can keep enrolling people (they end when cancelled, or once turned off)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from drumbeat.platform.migration_kit import run_sql

ID = "2026-11-23T00:18:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "evergreen campaigns"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_raw(run_sql(
        "ALTER TABLE drumbeat_campaign ADD COLUMN evergreen BOOLEAN NOT NULL DEFAULT FALSE"))
    return m
