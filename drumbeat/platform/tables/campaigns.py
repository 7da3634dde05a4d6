"""Campaigns, their recipients and their workflow (states with actions)."""

from enum import Enum

from piccolo.columns import JSON, ForeignKey, Integer, Text, Timestamptz, Varchar, Boolean
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from drumbeat.platform.tables.audience import Company, Contact
from drumbeat.platform.tables.team import TeamMember


class CampaignState(str, Enum):
    PROPOSED = "PROPOSED"
    IN_PREPARATION = "IN_PREPARATION"
    READY = "READY"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


class Campaign(Table, tablename="drumbeat_campaign"):
    name = Varchar(length=200)  # unique case-insensitively (index on lower(name))
    description = Text(default="")
    owner = ForeignKey(TeamMember, null=False, on_delete=OnDelete.restrict)
    created_by = ForeignKey(TeamMember, null=False, on_delete=OnDelete.restrict)
    state = Varchar(length=20, choices=CampaignState, default=CampaignState.PROPOSED.value)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    launched_at = Timestamptz(null=True, default=None)
    completed_at = Timestamptz(null=True, default=None)


class CampaignRecipient(Table, tablename="drumbeat_campaign_recipient"):
    """One member of a campaign's audience: a contact or a company (unique per campaign)."""

    campaign = ForeignKey(Campaign, null=False, on_delete=OnDelete.cascade)
    kind = Varchar(length=10, default="contact")  # contact | company
    contact = ForeignKey(Contact, null=True, on_delete=OnDelete.cascade)
    company = ForeignKey(Company, null=True, on_delete=OnDelete.cascade)
    added_at = Timestamptz()


class WorkflowState(Table, tablename="drumbeat_workflow_state"):
    campaign = ForeignKey(Campaign, null=False, on_delete=OnDelete.cascade)
    name = Varchar(length=200)
    position = Integer(default=0)
    is_start = Boolean(default=False)


class WorkflowAction(Table, tablename="drumbeat_workflow_action"):
    """A step of the workflow: one action (of a plugin's action type) within a state."""

    campaign = ForeignKey(Campaign, null=False, on_delete=OnDelete.cascade)
    state = ForeignKey(WorkflowState, null=False, on_delete=OnDelete.cascade)
    action_type = Varchar(length=100)
    config = JSON(default="{}")
    position = Integer(default=0)
