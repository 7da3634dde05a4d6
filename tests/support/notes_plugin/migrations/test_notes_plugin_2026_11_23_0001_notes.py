"""The test plugin's note table (one note per delivery: the unique index is the safety net)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import Integer, Text

from drumbeat import migration_kit

ID = "2026-11-23T09:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "test plugin notes"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="test_notes_plugin", description=DESCRIPTION)
    migration_kit.create_table(m, "PluginNote", "test_plugin_note",
                               delivery=Integer(unique=True), campaign=Integer(), text=Text())
    return m
