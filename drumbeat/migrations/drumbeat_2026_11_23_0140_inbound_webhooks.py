"""Inbound webhooks: each provider event id once; deliveries found by their Message-ID."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from drumbeat.platform.migration_kit import run_sql

ID = "2026-11-23T00:14:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "inbound webhook events"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_raw(run_sql(
        "CREATE TABLE drumbeat_inbound_event ("
        " event_id VARCHAR(200) PRIMARY KEY, received_at TIMESTAMPTZ NOT NULL)",
        "CREATE INDEX drumbeat_delivery_message_id ON drumbeat_delivery (message_id)",
    ))
    return m
