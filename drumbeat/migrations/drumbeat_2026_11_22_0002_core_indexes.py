"""Unique keys and lookup indexes Piccolo's column API cannot express on SQLite."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from drumbeat.platform.migration_kit import run_sql

ID = "2026-11-22T00:00:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "core indexes"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_raw(run_sql(
        "CREATE UNIQUE INDEX drumbeat_campaign_name_ci ON drumbeat_campaign (lower(name))",
        "CREATE INDEX drumbeat_campaign_owner ON drumbeat_campaign (owner)",
        "CREATE UNIQUE INDEX drumbeat_recipient_contact_key"
        " ON drumbeat_campaign_recipient (campaign, contact)",
        "CREATE UNIQUE INDEX drumbeat_recipient_company_key"
        " ON drumbeat_campaign_recipient (campaign, company)",
        "CREATE UNIQUE INDEX drumbeat_delivery_key"
        " ON drumbeat_delivery (step, target_kind, target_id)",
        "CREATE INDEX drumbeat_delivery_campaign_state ON drumbeat_delivery (campaign, state)",
        "CREATE INDEX drumbeat_delivery_lease ON drumbeat_delivery (state, lease_until)",
        "CREATE INDEX drumbeat_api_token_member ON drumbeat_api_token (member)",
    ))
    m.add_raw_backwards(run_sql(
        *(f"DROP INDEX {name}" for name in (
            "drumbeat_campaign_name_ci", "drumbeat_campaign_owner",
            "drumbeat_recipient_contact_key", "drumbeat_recipient_company_key",
            "drumbeat_delivery_key", "drumbeat_delivery_campaign_state",
            "drumbeat_delivery_lease", "drumbeat_api_token_member",
        ))
    ))
    return m
