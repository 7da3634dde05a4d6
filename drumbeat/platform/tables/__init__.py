"""Every Piccolo table of Drumbeat's core, one module per concept."""

from drumbeat.platform.tables.audience import Company, Contact
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
from drumbeat.platform.tables.deliveries import Delivery, DeliveryState, SkipReason
from drumbeat.platform.tables.planning import (
    CampaignCost,
    CampaignOutcome,
    CampaignTag,
    CostCategory,
    OutcomeKind,
)
from drumbeat.platform.tables.team import ApiToken, Role, TeamMember
from drumbeat.platform.tables.templates import Template, TemplateKind

ALL_TABLES = (
    TeamMember,
    ApiToken,
    Company,
    Contact,
    Template,
    Campaign,
    CampaignTag,
    CampaignRecipient,
    WorkflowState,
    WorkflowAction,
    Delivery,
    CampaignCost,
    CampaignOutcome,
    AuditEntry,
)

__all__ = [
    "ALL_TABLES", "ApiToken", "AuditEntry", "Campaign", "CampaignCost", "CampaignOutcome",
    "CampaignRecipient", "CampaignState", "CampaignTag", "Company", "Contact", "CostCategory",
    "Delivery", "DeliveryState", "DispatchStrategy", "OutcomeKind", "Role", "SenderStrategy",
    "SkipReason", "Template", "TemplateKind", "TeamMember", "WorkflowAction", "WorkflowState",
]
