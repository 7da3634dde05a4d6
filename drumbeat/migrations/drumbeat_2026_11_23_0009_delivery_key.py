"""The ledger's key becomes (step, recipient, target): the same target reached through a
second recipient gets its own row, skipped as DUPLICATE, so every skip has a reason."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from drumbeat.platform.migration_kit import run_sql

ID = "2026-11-23T00:00:09:000000"
VERSION = "1.38.0"
DESCRIPTION = "delivery key per recipient, suppression index"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_raw(run_sql(
        "DROP INDEX drumbeat_delivery_key",
        "CREATE UNIQUE INDEX drumbeat_delivery_key"
        " ON drumbeat_delivery (step, recipient, target_kind, target_id)",
        "CREATE UNIQUE INDEX drumbeat_suppression_address ON drumbeat_suppression (address)",
    ))
    return m
