"""A campaign's template and the planning tables' indexes.

A separate migration because Piccolo runs a migration's raw steps and added columns before
the tables it creates.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import ForeignKey
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from drumbeat.platform.migration_kit import run_sql

ID = "2026-11-23T00:00:04:000000"
VERSION = "1.38.0"
DESCRIPTION = "campaign template, planning indexes"


class Template(Table, tablename="drumbeat_template"):
    pass


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_column(table_class_name="Campaign", tablename="drumbeat_campaign",
                 column_name="template", db_column_name="template",
                 column_class_name="ForeignKey", column_class=ForeignKey,
                 params={"references": Template, "null": True, "on_delete": OnDelete.set_null})
    m.add_raw(run_sql(
        "CREATE UNIQUE INDEX drumbeat_template_name_ci ON drumbeat_template (lower(name))",
        "CREATE UNIQUE INDEX drumbeat_campaign_tag_key ON drumbeat_campaign_tag (campaign, tag)",
        "CREATE INDEX drumbeat_campaign_tag_tag ON drumbeat_campaign_tag (tag)",
        "CREATE INDEX drumbeat_campaign_cost_campaign ON drumbeat_campaign_cost (campaign)",
        "CREATE INDEX drumbeat_campaign_outcome_campaign"
        " ON drumbeat_campaign_outcome (campaign, kind)",
        "CREATE INDEX drumbeat_audit_entry_campaign ON drumbeat_audit_entry (campaign_id, id)",
        "CREATE INDEX drumbeat_campaign_created ON drumbeat_campaign (created_at, id)",
    ))
    return m
