"""Workflow version indexes (after 0150: Piccolo runs a migration's raw steps before its
tables)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from drumbeat.platform.migration_kit import run_sql

ID = "2026-11-23T00:15:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "workflow version indexes"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_raw(run_sql(
        "CREATE UNIQUE INDEX drumbeat_workflow_version_number"
        " ON drumbeat_workflow_version (campaign, number)",
        "CREATE INDEX drumbeat_workflow_state_version"
        " ON drumbeat_workflow_state (campaign, version)",
    ))
    return m
