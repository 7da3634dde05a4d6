"""An index on the event ledger by (campaign, id): a campaign's newest events
(``Campaign.recentEvents``) and its replay after an id (``campaignEvents(after:)``) read a
range of it instead of walking every campaign's events in id order."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from drumbeat.platform.migration_kit import run_sql

ID = "2026-12-04T00:20:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "event index by campaign and id"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_raw(run_sql(
        "CREATE INDEX drumbeat_delivery_event_campaign_id ON drumbeat_delivery_event (campaign, id)",
    ))
    return m
