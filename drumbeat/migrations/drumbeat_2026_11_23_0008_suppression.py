"""The suppression list (addresses never to email: hard bounces, complaints, manual) and
the campaign's consent requirement."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import Boolean, Text, Timestamptz, Varchar

from drumbeat.platform.migration_kit import create_table

ID = "2026-11-23T00:00:08:000000"
VERSION = "1.38.0"
DESCRIPTION = "suppression list"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    create_table(
        m, "Suppression", "drumbeat_suppression",
        address=Varchar(length=254),  # lower-case
        reason=Varchar(length=30),
        note=Text(default=""),
        created_at=Timestamptz(),
    )
    m.add_column(table_class_name="Campaign", tablename="drumbeat_campaign",
                 column_name="require_consent", db_column_name="require_consent",
                 column_class_name="Boolean", column_class=Boolean, params={"default": False})
    return m
