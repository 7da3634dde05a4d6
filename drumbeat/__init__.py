"""Drumbeat's public plugin API — everything a plugin needs, and nothing else.

A plugin is a module or object with functions marked ``@hookimpl`` (see
``drumbeat.platform.plugins.hookspecs`` for every hook), exposed through the
``drumbeat.plugins`` entry-point group of its distribution.
"""

from drumbeat.platform.actions import (
    ActionContext,
    ActionType,
    CampaignInfo,
    NoConfig,
    Outcome,
    Sender,
    SuppressionList,
    Target,
    TemplateContent,
)
from drumbeat.platform.plugins.markers import hookimpl
from drumbeat.platform.templating import TemplateProblem
from drumbeat.platform.tracking.links import EmailTracking
from drumbeat.platform.tracking.links import save_links as save_tracked_links
from drumbeat.platform.validation import is_header_safe

__all__ = [
    "ActionContext",
    "ActionType",
    "CampaignInfo",
    "EmailTracking",
    "NoConfig",
    "Outcome",
    "Sender",
    "SuppressionList",
    "Target",
    "TemplateContent",
    "TemplateProblem",
    "hookimpl",
    "is_header_safe",
    "save_tracked_links",
]
