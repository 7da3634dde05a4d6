"""Drumbeat's public plugin API — everything a plugin needs, and nothing else.

A plugin is a module or object with functions marked ``@hookimpl`` (see
``drumbeat.platform.plugins.hookspecs`` for every hook), exposed through the
``drumbeat.plugins`` entry-point group of its distribution.
"""

from drumbeat.platform.actions import (
    MESSAGE,
    WORK_ITEM,
    ActionContext,
    ActionType,
    CampaignInfo,
    NoConfig,
    Outcome,
    Persist,
    Sender,
    SuppressionList,
    Target,
    TemplateContent,
)
from drumbeat.platform import migration_kit
from drumbeat.platform.conversions import record_conversion
from drumbeat.platform.database import Database
from drumbeat.platform.execution import delivery_context
from drumbeat.platform.mail.message import build_message, message_id_for
from drumbeat.platform.mail.transport import Envelope, SendResult, transport_for
from drumbeat.platform.metrics import Counts as MetricCounts
from drumbeat.platform.metrics import ab_metrics, ab_score, register_ab_metric, variant_counts
from drumbeat.platform.plugins.contributions import GraphQLContribution
from drumbeat.platform.plugins.markers import hookimpl
from drumbeat.platform.templating import TemplateProblem
from drumbeat.platform.tracking.links import EmailTracking
from drumbeat.platform.tracking.links import save_links as save_tracked_links
from drumbeat.platform.validation import is_header_safe
from drumbeat.platform.workflows.signals import record_call_outcome_event

__all__ = [
    "MESSAGE",
    "WORK_ITEM",
    "ActionContext",
    "ActionType",
    "CampaignInfo",
    "Database",
    "EmailTracking",
    "Envelope",
    "GraphQLContribution",
    "MetricCounts",
    "NoConfig",
    "Outcome",
    "Persist",
    "SendResult",
    "Sender",
    "SuppressionList",
    "Target",
    "TemplateContent",
    "TemplateProblem",
    "ab_metrics",
    "ab_score",
    "build_message",
    "delivery_context",
    "hookimpl",
    "is_header_safe",
    "message_id_for",
    "migration_kit",
    "record_call_outcome_event",
    "record_conversion",
    "register_ab_metric",
    "save_tracked_links",
    "transport_for",
    "variant_counts",
]
