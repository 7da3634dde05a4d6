"""Drumbeat plugin ``webhook``: a signed JSON POST per recipient (or per chunk).

Registered through the ``drumbeat.plugins`` entry point of this distribution (see its
pyproject.toml); it uses nothing of Drumbeat but the public API in ``drumbeat``.
"""

from drumbeat import hookimpl
from drumbeat_webhook.action import WebhookAction
from drumbeat_webhook.signing import verify

__all__ = ["WebhookAction", "verify"]


@hookimpl
def drumbeat_action_types():
    return [WebhookAction()]
