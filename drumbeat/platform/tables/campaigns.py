"""Campaigns, their recipients and their workflow (states with actions)."""

from enum import Enum

from piccolo.columns import JSON, BigInt, Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from drumbeat.platform.tables.audience import Company, Contact, Lead
from drumbeat.platform.tables.team import TeamMember
from drumbeat.platform.tables.templates import Template


class CampaignState(str, Enum):
    PROPOSED = "PROPOSED"
    IN_PREPARATION = "IN_PREPARATION"
    READY = "READY"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


class SenderStrategy(str, Enum):
    """Who appears as the sender (and receives the replies)."""

    CREATOR = "CREATOR"
    OWNER = "OWNER"
    CONTACT_OWNER = "CONTACT_OWNER"


class DispatchStrategy(str, Enum):
    """Who is addressed for a recipient: the person, their company's general address, both."""

    CONTACT = "CONTACT"
    COMPANY = "COMPANY"
    BOTH = "BOTH"


class Campaign(Table, tablename="drumbeat_campaign"):
    name = Varchar(length=200)  # unique case-insensitively (index on lower(name))
    goal = Text(default="")
    description = Text(default="")
    results = Text(default="")  # written back after the run
    owner = ForeignKey(TeamMember, null=False, on_delete=OnDelete.restrict)
    created_by = ForeignKey(TeamMember, null=False, on_delete=OnDelete.restrict)
    state = Varchar(length=20, choices=CampaignState, default=CampaignState.PROPOSED.value)
    sender_strategy = Varchar(length=20, choices=SenderStrategy,
                              default=SenderStrategy.OWNER.value)
    dispatch_strategy = Varchar(length=20, choices=DispatchStrategy,
                                default=DispatchStrategy.CONTACT.value)
    template = ForeignKey(Template, null=True, on_delete=OnDelete.set_null)
    evergreen = Boolean(default=False)  # stays RUNNING for triggers when all is finished
    send_emails = Boolean(default=True)  # off: documents and activities only, no email
    require_consent = Boolean(default=False)  # on: only contacts who GRANTED consent
    scheduled_start = Timestamptz(null=True, default=None)
    # Money is exact: integer hundredths of ``currency`` (never floats).
    budget_cents = BigInt(null=True, default=None)
    currency = Varchar(length=3, default="EUR")
    budget_alert_80_at = Timestamptz(null=True, default=None)  # set once when 80 % is crossed
    budget_alert_100_at = Timestamptz(null=True, default=None)
    target_leads = Integer(null=True, default=None)
    target_conversion_rate = Varchar(length=40, null=True, default=None)  # a decimal, percent
    target_roi = Varchar(length=40, null=True, default=None)  # a decimal ratio, 0.5 = 50 %
    target_revenue_cents = BigInt(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    launched_at = Timestamptz(null=True, default=None)
    completed_at = Timestamptz(null=True, default=None)


class CampaignRecipient(Table, tablename="drumbeat_campaign_recipient"):
    """One member of a campaign's audience: a contact, a company or a lead (unique per
    campaign); the dispatch strategy decides who is actually addressed for it."""

    campaign = ForeignKey(Campaign, null=False, on_delete=OnDelete.cascade)
    kind = Varchar(length=10, default="contact")  # contact | company | lead
    contact = ForeignKey(Contact, null=True, on_delete=OnDelete.cascade)
    company = ForeignKey(Company, null=True, on_delete=OnDelete.cascade)
    lead = ForeignKey(Lead, null=True, on_delete=OnDelete.cascade)
    added_at = Timestamptz()
    #: When it first converted (a CONVERTED event, or a LEAD/SALE outcome of a contact it
    #: was addressed as): set by triggers.
    converted_at = Timestamptz(null=True, default=None)


class WorkflowState(Table, tablename="drumbeat_workflow_state"):
    campaign = ForeignKey(Campaign, null=False, on_delete=OnDelete.cascade)
    name = Varchar(length=200)
    position = Integer(default=0)
    is_start = Boolean(default=False)
    #: The state's stable key in the workflow definition ("" for a quick campaign's state).
    state_key = Varchar(length=100, default="")
    #: The workflow version the state belongs to (see ``drumbeat_workflow_version``).
    version = Integer(default=1)


class WorkflowAction(Table, tablename="drumbeat_workflow_action"):
    """A step of the workflow: one action (of a plugin's action type) within a state."""

    campaign = ForeignKey(Campaign, null=False, on_delete=OnDelete.cascade)
    state = ForeignKey(WorkflowState, null=False, on_delete=OnDelete.cascade)
    action_type = Varchar(length=100)
    config = JSON(default="{}")
    position = Integer(default=0)
    #: An ad-hoc send's step (``campaignSendNow``): never a start step, ignored by launch and
    #: resume; its deliveries run while the campaign is not CANCELLED, whatever its state.
    adhoc = Boolean(default=False)
