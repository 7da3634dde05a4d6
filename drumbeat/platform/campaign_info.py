"""What a send renders with: the campaign (sender, template) as actions see it, and the
launch check of its steps. Each recipient's data is in ``personalisation``; the worker
(``execution.run_chunk``) and the template preview both use both, so a preview shows
exactly what a real send would.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from pydantic import ValidationError

from drumbeat.platform.actions import CampaignInfo, Sender, TemplateContent
from drumbeat.platform.errors import ErrorCode, Problems
from drumbeat.platform.tables import SenderStrategy


async def load_campaign_info(platform_or_db: Any, campaign_id: int) -> CampaignInfo | None:
    """The campaign as actions see it (one SELECT), or ``None`` when it does not exist."""
    db = getattr(platform_or_db, "db", platform_or_db)
    row = await db.fetchrow(
        """
        SELECT c.id, c.name, c.state, c.sender_strategy, c.send_emails,
               o.name AS owner_name, o.email AS owner_email,
               m.name AS creator_name, m.email AS creator_email,
               t.kind AS template_kind, t.subject AS template_subject,
               t.text AS template_text, t.html AS template_html
        FROM drumbeat_campaign c
        JOIN drumbeat_team_member o ON o.id = c.owner
        JOIN drumbeat_team_member m ON m.id = c.created_by
        LEFT JOIN drumbeat_template t ON t.id = c.template
        WHERE c.id = {}
        """,
        campaign_id,
    )
    if row is None:
        return None
    owner = Sender(name=row["owner_name"], email=row["owner_email"])
    if row["sender_strategy"] == SenderStrategy.CREATOR.value:
        sender = Sender(name=row["creator_name"], email=row["creator_email"])
    else:
        # OWNER; for CONTACT_OWNER each target carries its owner (execution._targets), and
        # the campaign's owner sends for targets nobody owns.
        sender = owner
    template = None
    if row["template_kind"] is not None:
        template = TemplateContent(kind=row["template_kind"], subject=row["template_subject"] or "",
                                   text=row["template_text"] or "", html=row["template_html"] or "")
    return CampaignInfo(id=row["id"], name=row["name"], owner=owner, sender=sender,
                        state=row["state"], template=template,
                        sender_strategy=row["sender_strategy"],
                        send_emails=bool(row["send_emails"]))


async def check_launch(platform: Any, problems: Problems, campaign_id: int,
                       steps: Sequence[Mapping]) -> None:
    """Ask each step's action type whether it can run for the campaign (its
    ``check_launch``); problems are reported on ``action.config.<field>``."""
    campaign = await load_campaign_info(platform, campaign_id)
    if campaign is None:
        return
    for step in steps:
        action_type = platform.plugins.action_type(step["action_type"])
        raw = step["config"]
        try:
            config = action_type.parse_config(json.loads(raw) if isinstance(raw, str) else raw)
        except ValidationError as exc:
            problems.add(f"The action's config is no longer valid: {exc.errors()[0]['msg']}",
                         ErrorCode.INVALID_CONFIG, "action", "config")
            continue
        for path, message in await launch_problems(platform, action_type, config, campaign):
            problems.add(message, ErrorCode.INVALID_CONFIG, "action", "config", *path)


async def launch_problems(platform: Any, action_type: Any, config: Any,
                          campaign: CampaignInfo) -> list[tuple[tuple[str, ...], str]]:
    """Whether a step can run for ``campaign`` now: its type's ``check_launch`` and, when
    that finds nothing, ``check_references`` (the records its config names)."""
    found = list(action_type.check_launch(config, campaign))
    return found or list(await action_type.check_references(config, platform.db))
