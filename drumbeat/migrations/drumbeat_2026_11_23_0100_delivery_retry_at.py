"""A retried delivery's ``retry_at``: not claimable before it, whatever message arrives
(the backoff holds even against a stray or duplicated chunk message)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import DoublePrecision

ID = "2026-11-23T00:01:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "delivery retry_at"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_column(table_class_name="Delivery", tablename="drumbeat_delivery",
                 column_name="retry_at", db_column_name="retry_at",
                 column_class_name="DoublePrecision", column_class=DoublePrecision,
                 params={"null": True, "default": None})
    return m
