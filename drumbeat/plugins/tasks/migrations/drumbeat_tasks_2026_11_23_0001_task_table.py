"""The task table (its indexes follow in 0002: Piccolo runs raw steps before new tables)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import Integer, Text, Timestamptz, Varchar

from drumbeat import migration_kit

ID = "2026-11-23T10:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "task table"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat_tasks", description=DESCRIPTION)
    migration_kit.create_table(
        m, "Task", "drumbeat_task",
        kind=Varchar(length=10),
        campaign=Integer(),
        step=Integer(),
        delivery=Integer(unique=True),
        target_kind=Varchar(length=10),
        target_id=Integer(),
        target_name=Varchar(length=300, default=""),
        phone=Varchar(length=100, default=""),
        title=Varchar(length=500),
        activity_type=Varchar(length=20, null=True, default=None),
        body=Text(default=""),
        assignee=Integer(null=True, default=None),
        due_at=Timestamptz(null=True, default=None),
        status=Varchar(length=10, default="OPEN"),
        outcome=Varchar(length=20, null=True, default=None),
        call_back_at=Timestamptz(null=True, default=None),
        calls=Integer(default=0),
        notes=Text(default=""),
        completed_at=Timestamptz(null=True, default=None),
        completed_by=Integer(null=True, default=None),
        created_at=Timestamptz(),
        updated_at=Timestamptz(),
    )
    return m
