"""Sales indexes (after 0001: Piccolo runs a migration's raw steps before its tables)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from drumbeat import migration_kit

ID = "2026-11-24T00:00:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "sales indexes"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat_sales", description=DESCRIPTION)
    m.add_raw(migration_kit.run_sql(
        "CREATE UNIQUE INDEX drumbeat_invoice_number ON drumbeat_invoice (year, number)",
        "CREATE INDEX drumbeat_invoice_campaign ON drumbeat_invoice (campaign, id)",
        "CREATE INDEX drumbeat_invoice_status ON drumbeat_invoice (status, id)",
        "CREATE INDEX drumbeat_opportunity_campaign ON drumbeat_opportunity (campaign, id)",
        "CREATE INDEX drumbeat_opportunity_owner ON drumbeat_opportunity (owner, id)",
        "CREATE INDEX drumbeat_offer_campaign ON drumbeat_offer (campaign, id)",
    ))
    return m
