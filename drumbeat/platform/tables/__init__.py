"""Every Piccolo table of Drumbeat's core, one module per concept."""

from drumbeat.platform.tables.audience import Company, Contact
from drumbeat.platform.tables.campaigns import (
    Campaign,
    CampaignRecipient,
    CampaignState,
    WorkflowAction,
    WorkflowState,
)
from drumbeat.platform.tables.deliveries import Delivery, DeliveryState, SkipReason
from drumbeat.platform.tables.team import ApiToken, Role, TeamMember

ALL_TABLES = (
    TeamMember,
    ApiToken,
    Company,
    Contact,
    Campaign,
    CampaignRecipient,
    WorkflowState,
    WorkflowAction,
    Delivery,
)

__all__ = [
    "ALL_TABLES", "ApiToken", "Campaign", "CampaignRecipient", "CampaignState", "Company",
    "Contact", "Delivery", "DeliveryState", "Role", "SkipReason", "TeamMember",
    "WorkflowAction", "WorkflowState",
]
