"""Every Piccolo table of Drumbeat's core, one module per concept."""

from drumbeat.platform.tables.audience import (
    Company,
    Consent,
    Contact,
    ContactTag,
    Lead,
    LeadStatus,
    Product,
    ProductInterest,
    Purchase,
)
from drumbeat.platform.tables.audit import AuditEntry
from drumbeat.platform.tables.campaigns import (
    Campaign,
    CampaignRecipient,
    CampaignState,
    DispatchStrategy,
    SenderStrategy,
    WorkflowAction,
    WorkflowState,
)
from drumbeat.platform.tables.deliveries import (
    Delivery,
    DeliveryAccepted,
    DeliveryState,
    DeliveryTally,
    SkipReason,
    Suppression,
    SuppressionReason,
)
from drumbeat.platform.tables.planning import (
    CampaignCost,
    CampaignOutcome,
    CampaignTag,
    CostCategory,
    OutcomeKind,
)
from drumbeat.platform.tables.segments import DistributionList, ListMember, MemberSource, Segment
from drumbeat.platform.tables.team import ApiToken, Role, TeamMember
from drumbeat.platform.tables.templates import Template, TemplateKind
from drumbeat.platform.tables.tracking import DeliveryEvent, EventType, TrackedLink

ALL_TABLES = (
    TeamMember,
    ApiToken,
    Company,
    Contact,
    ContactTag,
    Lead,
    Product,
    Purchase,
    ProductInterest,
    Segment,
    DistributionList,
    ListMember,
    Template,
    Campaign,
    CampaignTag,
    CampaignRecipient,
    WorkflowState,
    WorkflowAction,
    Delivery,
    DeliveryAccepted,
    DeliveryTally,
    Suppression,
    CampaignCost,
    CampaignOutcome,
    AuditEntry,
    DeliveryEvent,
    TrackedLink,
)

__all__ = [
    "ALL_TABLES", "DeliveryEvent", "EventType", "TrackedLink",
    "ApiToken", "AuditEntry", "Campaign", "CampaignCost", "CampaignOutcome",
    "CampaignRecipient", "CampaignState", "CampaignTag", "Company", "Consent", "Contact",
    "ContactTag", "CostCategory", "Delivery", "DeliveryAccepted", "DeliveryState", "DeliveryTally", "DispatchStrategy",
    "DistributionList", "Lead", "LeadStatus", "ListMember", "MemberSource", "OutcomeKind",
    "Product", "ProductInterest", "Purchase", "Role", "Segment", "SenderStrategy", "SkipReason", "Suppression", "SuppressionReason",
    "Template", "TemplateKind", "TeamMember", "WorkflowAction", "WorkflowState",
]
