"""Indexes of the task queries: a member's open tasks, a campaign's tasks, by status."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from drumbeat import migration_kit

ID = "2026-11-23T10:00:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "task indexes"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat_tasks", description=DESCRIPTION)
    m.add_raw(migration_kit.run_sql(
        "CREATE INDEX drumbeat_task_assignee ON drumbeat_task (assignee, status, id)",
        "CREATE INDEX drumbeat_task_campaign ON drumbeat_task (campaign, status, id)",
        "CREATE INDEX drumbeat_task_due ON drumbeat_task (status, due_at)",
    ))
    return m
