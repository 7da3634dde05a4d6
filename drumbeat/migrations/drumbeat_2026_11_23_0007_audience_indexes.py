"""Audience: unique keys and lookup indexes (after 0006: Piccolo runs a migration's raw
steps before its added columns)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from drumbeat.platform.migration_kit import run_sql

ID = "2026-11-23T00:00:07:000000"
VERSION = "1.38.0"
DESCRIPTION = "audience indexes"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_raw(run_sql(
        "CREATE UNIQUE INDEX drumbeat_recipient_lead_key ON drumbeat_campaign_recipient (campaign, lead)",
        "CREATE UNIQUE INDEX drumbeat_contact_tag_key ON drumbeat_contact_tag (contact, tag)",
        "CREATE INDEX drumbeat_contact_tag_tag ON drumbeat_contact_tag (tag)",
        "CREATE UNIQUE INDEX drumbeat_product_interest_key"
        " ON drumbeat_product_interest (contact, product)",
        "CREATE INDEX drumbeat_purchase_contact ON drumbeat_purchase (contact, purchased_on)",
        "CREATE INDEX drumbeat_purchase_company ON drumbeat_purchase (company, purchased_on)",
        "CREATE INDEX drumbeat_purchase_product ON drumbeat_purchase (product)",
        "CREATE UNIQUE INDEX drumbeat_product_name_ci ON drumbeat_product (lower(name))",
        "CREATE UNIQUE INDEX drumbeat_segment_name_ci ON drumbeat_segment (lower(name))",
        "CREATE UNIQUE INDEX drumbeat_list_name_ci ON drumbeat_distribution_list (lower(name))",
        "CREATE UNIQUE INDEX drumbeat_list_member_key ON drumbeat_list_member (list, contact)",
        "CREATE INDEX drumbeat_lead_email ON drumbeat_lead (lower(email))",
        "CREATE INDEX drumbeat_contact_company ON drumbeat_contact (company)",
        "CREATE INDEX drumbeat_contact_country ON drumbeat_contact (country)",
    ))
    return m
