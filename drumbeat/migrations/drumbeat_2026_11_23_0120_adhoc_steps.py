"""Ad-hoc steps: a workflow action made by ``campaignSendNow`` for a one-off send outside
the workflow (its deliveries run in any campaign state but CANCELLED)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import Boolean

ID = "2026-11-23T00:12:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "ad-hoc workflow actions"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_column(table_class_name="WorkflowAction", tablename="drumbeat_workflow_action",
                 column_name="adhoc", db_column_name="adhoc",
                 column_class_name="Boolean", column_class=Boolean,
                 params={"default": False})
    return m
