"""Tracking indexes (after 0110: Piccolo runs a migration's raw steps before its tables)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from drumbeat.platform.migration_kit import run_sql

ID = "2026-11-23T00:01:11:000000"
VERSION = "1.38.0"
DESCRIPTION = "tracking indexes"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_raw(run_sql(
        "CREATE UNIQUE INDEX drumbeat_tracked_link_key ON drumbeat_tracked_link (delivery, idx)",
        "CREATE INDEX drumbeat_delivery_event_campaign"
        " ON drumbeat_delivery_event (campaign, type, created_at)",
        "CREATE INDEX drumbeat_delivery_event_delivery ON drumbeat_delivery_event (delivery, type)",
        "CREATE INDEX drumbeat_delivery_address_ci ON drumbeat_delivery (lower(address), state)",
    ))
    return m
