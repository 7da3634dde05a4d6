"""Workflow definitions and their versions: each state's stable key and version number, and
one row per version with the definition as JSON."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from drumbeat.platform.migration_kit import create_table

ID = "2026-11-23T00:15:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "workflow versions"


class Campaign(Table, tablename="drumbeat_campaign"):
    pass


class TeamMember(Table, tablename="drumbeat_team_member"):
    pass


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    for name, column_class, params in (("state_key", Varchar, {"length": 100, "default": ""}),
                                       ("version", Integer, {"default": 1})):
        m.add_column(table_class_name="WorkflowState", tablename="drumbeat_workflow_state",
                     column_name=name, db_column_name=name,
                     column_class_name=column_class.__name__, column_class=column_class,
                     params=params)
    create_table(
        m, "WorkflowVersion", "drumbeat_workflow_version",
        campaign=ForeignKey(references=Campaign, null=False, on_delete=OnDelete.cascade),
        number=Integer(),
        definition=Text(),
        created_by=ForeignKey(references=TeamMember, null=True, on_delete=OnDelete.set_null),
        created_at=Timestamptz(),
    )
    return m
