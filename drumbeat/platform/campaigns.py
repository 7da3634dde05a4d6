"""Campaign services: create, update, delete — with the rules every caller obeys. The
lifecycle (transitions, launch, pause, resume, cancel) is in ``lifecycle``, the audience in
``recipients``.

The API, the CLI and the workers all go through these functions, so permissions and state
checks hold everywhere. Each raises :class:`DomainError` with every problem found, and
changes nothing when it does. Every change is written to the audit log in its transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from pydantic import ValidationError

from drumbeat.platform import audit
from drumbeat.platform.campaign_fields import check_fields
from drumbeat.platform.errors import DomainError, ErrorCode, Problems, unique_violation_as
from drumbeat.platform.permissions import (
    require_campaign_creator,
    require_campaign_editor,
    require_member,
)
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tables import (
    Campaign,
    CampaignState,
    CampaignTag,
    WorkflowAction,
    WorkflowState,
)
from drumbeat.platform.team import Member, now

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class ActionInput:
    type: str
    config: Mapping[str, Any]


async def get_campaign(campaign_id: int) -> dict | None:
    return await Campaign.select().where(Campaign.id == campaign_id).first()


async def require_campaign(member: Member | None, campaign_id: int,
                           field: str = "campaignId") -> dict:
    """The campaign, for a signed-in member (an anonymous caller learns nothing, not even
    whether the id exists)."""
    require_member(member)
    campaign = await get_campaign(campaign_id)
    if campaign is None:
        raise DomainError.one("No such campaign.", ErrorCode.NOT_FOUND, [field])
    return campaign


def check_action(platform: Platform, problems: Problems, action: ActionInput, *field: str) -> None:
    """Validate an action's type and config against the action type's model."""
    action_type = platform.plugins.action_types.get(action.type)
    if action_type is None:
        known = ", ".join(sorted(platform.plugins.action_types)) or "none"
        problems.add(f"Unknown action type {action.type!r} (known: {known}).",
                     ErrorCode.UNKNOWN_ACTION_TYPE, *field, "type")
        return
    try:
        config = action_type.parse_config(action.config)
    except ValidationError as exc:
        for error in exc.errors():
            problems.add(error["msg"], ErrorCode.INVALID_CONFIG, *field, "config",
                         *(str(part) for part in error["loc"]))
        return
    for path, message in action_type.check_config(config, platform.templates):
        problems.add(message, ErrorCode.TEMPLATE_ERROR, *field, "config", *path)


async def check_action_references(platform: Platform, problems: Problems, action: ActionInput,
                                  *field: str) -> None:
    """The records an action's config names exist (its type's ``check_references``); for
    an action :func:`check_action` found sound."""
    action_type = platform.plugins.action_types.get(action.type)
    if action_type is None:
        return
    try:
        config = action_type.parse_config(action.config)
    except ValidationError:
        return
    for path, message in await action_type.check_references(config, platform.db):
        problems.add(message, ErrorCode.NOT_FOUND, *field, "config", *path)


async def create_campaign(platform: Platform, member: Member, name: str, action: ActionInput,
                          **fields: Any) -> dict:
    """Create a campaign with a one-state workflow running ``action`` for every recipient.

    ``fields`` are the optional fields of :func:`update_campaign` (goal, owner_id, tags…).
    """
    member = require_campaign_creator(member)
    problems = Problems()
    values = await check_fields(platform, problems, {"name": name, **fields}, None, "input")
    check_action(platform, problems, action, "input", "action")
    problems.raise_if_any()
    await check_action_references(platform, problems, action, "input", "action")
    problems.raise_if_any()
    tags = values.pop("tags", [])
    values.setdefault("owner", member.id)
    stamp = now()
    async with unique_name_guard(values["name"]), platform.db.transaction():
        campaign = (await Campaign.insert(Campaign(
            **values, created_by=member.id, state=CampaignState.PROPOSED.value,
            created_at=stamp, updated_at=stamp,
        )).returning(Campaign.id))[0]
        state = (await WorkflowState.insert(WorkflowState(
            campaign=campaign["id"], name="Send", position=0, is_start=True,
        )).returning(WorkflowState.id))[0]
        await WorkflowAction.insert(WorkflowAction(
            campaign=campaign["id"], state=state["id"], action_type=action.type,
            config=dict(action.config), position=0,
        ))
        await _set_tags(campaign["id"], tags)
        await audit.record(member, campaign["id"], "campaign.create", audit.diff(
            {}, {**values, "tags": tags, "action": {"type": action.type}}))
    return await get_campaign(campaign["id"])


async def update_campaign(platform: Platform, member: Member | None, campaign_id: int,
                          fields: Mapping[str, Any], action: ActionInput | None = None) -> dict:
    """Change the given fields (only those given); ``action`` replaces a quick campaign's
    action while the campaign is still in preparation."""
    campaign = await require_campaign(member, campaign_id, "id")
    require_campaign_editor(member, campaign)
    problems = Problems()
    given = dict(fields, **({"action": action} if action is not None else {}))
    values = await check_fields(platform, problems, given, campaign, "input")
    values.pop("action", None)
    if action is not None:
        check_action(platform, problems, action, "input", "action")
    problems.raise_if_any()
    if action is not None:
        await check_action_references(platform, problems, action, "input", "action")
        problems.raise_if_any()
    old_tags = await tags_of(campaign_id)
    tags = values.pop("tags", None)
    changes = audit.diff(campaign, values)
    if tags is not None and tags != old_tags:
        changes.append(audit.Change("tags", old_tags, tags))
    step = await _quick_step(campaign_id) if action is not None else None
    if action is not None:
        new = {"type": action.type, "config": dict(action.config)}
        changes += audit.diff({"action": {"type": step["action_type"], "config": step["config"]}},
                              {"action": new})
    if not changes:
        return campaign
    stamp = now()
    async with unique_name_guard(values.get("name", "")), platform.db.transaction():
        moved = await Campaign.update({**{getattr(Campaign, k): v for k, v in values.items()},
                                       Campaign.updated_at: stamp}).where(
            Campaign.id == campaign_id, Campaign.state == campaign["state"]
        ).returning(Campaign.id)
        if not moved:  # its state changed meanwhile: the checks above no longer hold
            raise DomainError.one("The campaign changed meanwhile; try again.",
                                  ErrorCode.INVALID_STATE, ["id"])
        if tags is not None:
            await _set_tags(campaign_id, tags)
        if action is not None:
            await WorkflowAction.update({WorkflowAction.action_type: action.type,
                                         WorkflowAction.config: dict(action.config)}).where(
                WorkflowAction.id == step["id"])
        await audit.record(member, campaign_id, "campaign.update", changes)
    return await get_campaign(campaign_id)


async def delete_campaign(platform: Platform, member: Member | None, campaign_id: int) -> None:
    """Delete a campaign that never ran (its audit log stays)."""
    campaign = await require_campaign(member, campaign_id, "id")
    require_campaign_editor(member, campaign)
    if campaign["launched_at"] is not None:
        raise DomainError.one("A campaign that ran cannot be deleted; cancel it instead.",
                              ErrorCode.INVALID_STATE, ["id"])
    async with platform.db.transaction():
        deleted = await Campaign.delete().where(
            Campaign.id == campaign_id, Campaign.launched_at.is_null()).returning(Campaign.id)
        if not deleted:
            raise DomainError.one("The campaign was launched meanwhile.",
                                  ErrorCode.INVALID_STATE, ["id"])
        await audit.record(member, campaign_id, "campaign.delete",
                           [audit.Change("name", campaign["name"], None)])


async def tags_of(campaign_id: int) -> list[str]:
    rows = await CampaignTag.select(CampaignTag.tag).where(
        CampaignTag.campaign == campaign_id).order_by(CampaignTag.id)
    return [r["tag"] for r in rows]


async def _set_tags(campaign_id: int, tags: Sequence[str]) -> None:
    await CampaignTag.delete().where(CampaignTag.campaign == campaign_id)
    if tags:
        await CampaignTag.insert(*(CampaignTag(campaign=campaign_id, tag=t) for t in tags))


async def _quick_step(campaign_id: int) -> dict:
    steps = await WorkflowAction.select().where(WorkflowAction.campaign == campaign_id)
    if len(steps) != 1:
        raise DomainError.one("Only a quick campaign's single action can be replaced here.",
                              ErrorCode.INVALID, ["input", "action"])
    return steps[0]


def unique_name_guard(name: str):
    return unique_violation_as("drumbeat_campaign_name_ci", f"A campaign named {name!r} exists.",
                               "input", "name")


async def complete_finished(platform: Platform, campaign_id: int | None = None) -> list[int]:
    """Mark running campaigns COMPLETED once every delivery is final and, for a workflow
    campaign, every enrollment finished (never earlier).

    With ``campaign_id``, only that campaign; without, every running campaign (the
    reconciler's sweep, for a worker that died between its last record and this check).
    """
    stamp = now()
    only = "AND id = {}" if campaign_id is not None else ""
    rows = await platform.db.fetch(
        f"""
        UPDATE drumbeat_campaign SET state = 'COMPLETED', completed_at = {{}}, updated_at = {{}}
        WHERE state = 'RUNNING' AND NOT evergreen {only} AND NOT EXISTS (
            SELECT 1 FROM drumbeat_delivery d
            WHERE d.campaign = drumbeat_campaign.id AND d.state IN ('pending', 'claimed'))
          -- a workflow campaign: also every enrollment finished (none of them left)
          AND NOT EXISTS (
            SELECT 1 FROM drumbeat_enrollment e WHERE e.campaign = drumbeat_campaign.id
              AND e.status IN ('ACTIVE', 'WAITING', 'PAUSED'))
        RETURNING id
        """,
        stamp, stamp, *(() if campaign_id is None else (campaign_id,)),
    )
    for row in rows:
        await audit.record(None, row["id"], "campaign.transition",
                           [audit.Change("state", "RUNNING", "COMPLETED")])
        await platform.publish(row["id"], {"type": "completed"})
    return [row["id"] for row in rows]
