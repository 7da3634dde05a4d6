"""Campaign planning: strategies, schedule, budget and objectives on the campaign; tags,
cost entries, recorded outcomes, templates and the audit log as tables of their own."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import (
    JSON, BigInt, Boolean, Date, ForeignKey, Integer, Text, Timestamptz, Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from drumbeat.platform.migration_kit import create_table

ID = "2026-11-23T00:00:03:000000"
VERSION = "1.38.0"
DESCRIPTION = "campaign planning"


class TeamMember(Table, tablename="drumbeat_team_member"):
    pass


class Contact(Table, tablename="drumbeat_contact"):
    pass


class Campaign(Table, tablename="drumbeat_campaign"):
    pass


class WorkflowAction(Table, tablename="drumbeat_workflow_action"):
    pass


def fk(table, on_delete=OnDelete.cascade, null=False):
    return ForeignKey(references=table, null=null, on_delete=on_delete)


# New columns of drumbeat_campaign: (name, column class, params).
CAMPAIGN_COLUMNS = (
    ("goal", Text, {"default": ""}),
    ("results", Text, {"default": ""}),
    ("sender_strategy", Varchar, {"length": 20, "default": "OWNER"}),
    ("dispatch_strategy", Varchar, {"length": 20, "default": "CONTACT"}),
    ("send_emails", Boolean, {"default": True}),
    ("scheduled_start", Timestamptz, {"null": True, "default": None}),
    ("budget_cents", BigInt, {"null": True, "default": None}),
    ("currency", Varchar, {"length": 3, "default": "EUR"}),
    ("budget_alert_80_at", Timestamptz, {"null": True, "default": None}),
    ("budget_alert_100_at", Timestamptz, {"null": True, "default": None}),
    ("target_leads", Integer, {"null": True, "default": None}),
    ("target_conversion_rate", Varchar, {"length": 40, "null": True, "default": None}),
    ("target_roi", Varchar, {"length": 40, "null": True, "default": None}),
    ("target_revenue_cents", BigInt, {"null": True, "default": None}),
)


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    create_table(
        m, "Template", "drumbeat_template",
        name=Varchar(length=200),
        kind=Varchar(length=20),
        subject=Text(default=""),
        text=Text(default=""),
        html=Text(default=""),
        owner=fk(TeamMember, OnDelete.restrict),
        created_at=Timestamptz(),
        updated_at=Timestamptz(),
    )
    for name, column_class, params in CAMPAIGN_COLUMNS:
        m.add_column(table_class_name="Campaign", tablename="drumbeat_campaign",
                     column_name=name, db_column_name=name,
                     column_class_name=column_class.__name__, column_class=column_class,
                     params=params)
    create_table(
        m, "CampaignTag", "drumbeat_campaign_tag",
        campaign=fk(Campaign),
        tag=Varchar(length=50),
    )
    create_table(
        m, "CampaignCost", "drumbeat_campaign_cost",
        campaign=fk(Campaign),
        amount_cents=BigInt(),
        category=Varchar(length=30),
        incurred_on=Date(),
        note=Text(default=""),
        step=fk(WorkflowAction, OnDelete.set_null, null=True),
        created_by=fk(TeamMember, OnDelete.restrict),
        created_at=Timestamptz(),
    )
    create_table(
        m, "CampaignOutcome", "drumbeat_campaign_outcome",
        campaign=fk(Campaign),
        kind=Varchar(length=20),
        value_cents=BigInt(default=0),
        contact=fk(Contact, OnDelete.set_null, null=True),
        note=Text(default=""),
        recorded_by=fk(TeamMember, OnDelete.restrict),
        recorded_at=Timestamptz(),
    )
    create_table(
        m, "AuditEntry", "drumbeat_audit_entry",
        campaign_id=Integer(),  # no foreign key: the log outlives a deleted campaign
        member=fk(TeamMember, OnDelete.set_null, null=True),
        action=Varchar(length=50),
        changes=JSON(default="[]"),
        created_at=Timestamptz(),
    )
    return m
