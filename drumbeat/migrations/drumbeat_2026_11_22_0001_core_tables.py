"""Core tables: team, audience, campaigns with their workflow, the deliveries ledger."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import (
    JSON, Boolean, DoublePrecision, ForeignKey, Integer, Text, Timestamptz, Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from drumbeat.platform.migration_kit import create_table

ID = "2026-11-22T00:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "core tables"


class TeamMember(Table, tablename="drumbeat_team_member"):
    pass


class Company(Table, tablename="drumbeat_company"):
    pass


class Contact(Table, tablename="drumbeat_contact"):
    pass


class Campaign(Table, tablename="drumbeat_campaign"):
    pass


class CampaignRecipient(Table, tablename="drumbeat_campaign_recipient"):
    pass


class WorkflowState(Table, tablename="drumbeat_workflow_state"):
    pass


class WorkflowAction(Table, tablename="drumbeat_workflow_action"):
    pass


def fk(table, on_delete=OnDelete.cascade, null=False):
    return ForeignKey(references=table, null=null, on_delete=on_delete)


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    create_table(
        m, "TeamMember", "drumbeat_team_member",
        email=Varchar(length=254, unique=True),
        name=Varchar(length=200),
        role=Varchar(length=20, default="MARKETER"),
        active=Boolean(default=True),
        created_at=Timestamptz(),
    )
    create_table(
        m, "ApiToken", "drumbeat_api_token",
        member=fk(TeamMember),
        token_hash=Varchar(length=64, unique=True),
        prefix=Varchar(length=16),
        label=Varchar(length=100, default=""),
        created_at=Timestamptz(),
        last_used_at=Timestamptz(null=True, default=None),
        revoked_at=Timestamptz(null=True, default=None),
    )
    create_table(
        m, "Company", "drumbeat_company",
        name=Varchar(length=200),
        email=Varchar(length=254, null=True, default=None),
        owner=fk(TeamMember, OnDelete.set_null, null=True),
        created_at=Timestamptz(),
    )
    create_table(
        m, "Contact", "drumbeat_contact",
        first_name=Varchar(length=100, default=""),
        last_name=Varchar(length=100, default=""),
        email=Varchar(length=254, null=True, default=None, index=True),
        company=fk(Company, OnDelete.set_null, null=True),
        owner=fk(TeamMember, OnDelete.set_null, null=True),
        unsubscribed=Boolean(default=False),
        bounced=Boolean(default=False),
        created_at=Timestamptz(),
    )
    create_table(
        m, "Campaign", "drumbeat_campaign",
        name=Varchar(length=200),
        description=Text(default=""),
        owner=fk(TeamMember, OnDelete.restrict),
        created_by=fk(TeamMember, OnDelete.restrict),
        state=Varchar(length=20, default="PROPOSED"),
        created_at=Timestamptz(),
        updated_at=Timestamptz(),
        launched_at=Timestamptz(null=True, default=None),
        completed_at=Timestamptz(null=True, default=None),
    )
    create_table(
        m, "CampaignRecipient", "drumbeat_campaign_recipient",
        campaign=fk(Campaign),
        kind=Varchar(length=10, default="contact"),
        contact=fk(Contact, null=True),
        company=fk(Company, null=True),
        added_at=Timestamptz(),
    )
    create_table(
        m, "WorkflowState", "drumbeat_workflow_state",
        campaign=fk(Campaign),
        name=Varchar(length=200),
        position=Integer(default=0),
        is_start=Boolean(default=False),
    )
    create_table(
        m, "WorkflowAction", "drumbeat_workflow_action",
        campaign=fk(Campaign),
        state=fk(WorkflowState),
        action_type=Varchar(length=100),
        config=JSON(default="{}"),
        position=Integer(default=0),
    )
    create_table(
        m, "Delivery", "drumbeat_delivery",
        campaign=fk(Campaign),
        step=fk(WorkflowAction),
        recipient=fk(CampaignRecipient),
        target_kind=Varchar(length=10),
        target_id=Integer(),
        address=Varchar(length=254, null=True, default=None),
        state=Varchar(length=10, default="pending"),
        skip_reason=Varchar(length=40, null=True, default=None),
        attempts=Integer(default=0),
        lease_until=DoublePrecision(null=True, default=None),
        claim_token=Varchar(length=32, null=True, default=None),
        last_error=Text(null=True, default=None),
        message_id=Varchar(length=255, null=True, default=None),
        created_at=Timestamptz(),
        finished_at=Timestamptz(null=True, default=None),
    )
    return m
