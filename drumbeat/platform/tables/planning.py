"""What a campaign is planned and measured with: tags, cost entries, recorded outcomes."""

from enum import Enum

from piccolo.columns import BigInt, Date, ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from drumbeat.platform.tables.audience import Contact
from drumbeat.platform.tables.campaigns import Campaign, WorkflowAction
from drumbeat.platform.tables.team import TeamMember


class CostCategory(str, Enum):
    CONTACT_LIST = "CONTACT_LIST"  # purchase of a contact list
    EMAIL_DESIGN = "EMAIL_DESIGN"
    MEDIA = "MEDIA"
    STAFF = "STAFF"
    OTHER = "OTHER"


class OutcomeKind(str, Enum):
    LEAD = "LEAD"
    OPPORTUNITY = "OPPORTUNITY"
    SALE = "SALE"  # won business; its value is the attributed revenue


class CampaignTag(Table, tablename="drumbeat_campaign_tag"):
    campaign = ForeignKey(Campaign, null=False, on_delete=OnDelete.cascade)
    tag = Varchar(length=50)


class CampaignCost(Table, tablename="drumbeat_campaign_cost"):
    """A cost entry; amounts are exact: integer hundredths of the campaign's currency."""

    campaign = ForeignKey(Campaign, null=False, on_delete=OnDelete.cascade)
    amount_cents = BigInt()
    category = Varchar(length=30, choices=CostCategory)
    incurred_on = Date()
    note = Text(default="")
    step = ForeignKey(WorkflowAction, null=True, on_delete=OnDelete.set_null)
    created_by = ForeignKey(TeamMember, null=False, on_delete=OnDelete.restrict)
    created_at = Timestamptz()


class CampaignOutcome(Table, tablename="drumbeat_campaign_outcome"):
    """A result attributed to the campaign: a lead, an opportunity, a sale (with its value)."""

    campaign = ForeignKey(Campaign, null=False, on_delete=OnDelete.cascade)
    kind = Varchar(length=20, choices=OutcomeKind)
    value_cents = BigInt(default=0)
    contact = ForeignKey(Contact, null=True, on_delete=OnDelete.set_null)
    note = Text(default="")
    recorded_by = ForeignKey(TeamMember, null=False, on_delete=OnDelete.restrict)
    recorded_at = Timestamptz()
