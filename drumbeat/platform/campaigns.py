"""Campaign services: create, add recipients, launch — with the rules every caller obeys.

The API, the CLI and the workers all go through these functions, so permissions and state
checks hold everywhere. Each raises :class:`DomainError` with every problem found, and
changes nothing when it does.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from pydantic import ValidationError

from drumbeat.platform import ledger
from drumbeat.platform.errors import DomainError, ErrorCode, Problems
from drumbeat.platform.permissions import (
    require_campaign_creator,
    require_campaign_editor,
    require_member,
)
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tables import (
    Campaign,
    CampaignRecipient,
    CampaignState,
    Contact,
    WorkflowAction,
    WorkflowState,
)
from drumbeat.platform.team import Member, get_member, now
from drumbeat.platform.validation import check_text

log = logging.getLogger(__name__)

#: States in which the audience and the workflow may still change and a launch may start.
PREPARING = (CampaignState.PROPOSED, CampaignState.IN_PREPARATION, CampaignState.READY)
MAX_RECIPIENTS_PER_CALL = 10_000


@dataclass(frozen=True)
class ActionInput:
    type: str
    config: Mapping[str, Any]


@dataclass(frozen=True)
class RecipientsAdded:
    added: int
    already_present: int


async def get_campaign(campaign_id: int) -> dict | None:
    return await Campaign.select().where(Campaign.id == campaign_id).first()


async def _require_campaign(member: Member | None, campaign_id: int,
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


async def create_campaign(
    platform: Platform,
    member: Member,
    name: str,
    action: ActionInput,
    description: str = "",
    owner_id: int | None = None,
) -> dict:
    """Create a campaign with a one-state workflow running ``action`` for every recipient."""
    member = require_campaign_creator(member)
    problems = Problems()
    name = (name or "").strip()
    check_text(problems, name, 200, "name", required=True, single_line=True)
    check_text(problems, description, 20_000, "description")
    check_action(platform, problems, action, "action")
    owner = member
    if owner_id is not None and owner_id != member.id:
        owner = await get_member(owner_id)
        if owner is None:
            problems.add("No such team member.", ErrorCode.NOT_FOUND, "ownerId")
    if name and await _name_taken(platform, name):
        problems.add(f"A campaign named {name!r} exists.", ErrorCode.DUPLICATE, "name")
    problems.raise_if_any()
    stamp = now()
    async with unique_name_guard(name), platform.db.transaction():
        campaign = (await Campaign.insert(Campaign(
            name=name, description=description or "", owner=owner.id, created_by=member.id,
            state=CampaignState.PROPOSED.value, created_at=stamp, updated_at=stamp,
        )).returning(Campaign.id))[0]
        state = (await WorkflowState.insert(WorkflowState(
            campaign=campaign["id"], name="Send", position=0, is_start=True,
        )).returning(WorkflowState.id))[0]
        await WorkflowAction.insert(WorkflowAction(
            campaign=campaign["id"], state=state["id"], action_type=action.type,
            config=dict(action.config), position=0,
        ))
    return await get_campaign(campaign["id"])


async def _name_taken(platform: Platform, name: str) -> bool:
    """Names are unique case-insensitively (a unique index on ``lower(name)``)."""
    return bool(await platform.db.fetchval(
        "SELECT count(*) FROM drumbeat_campaign WHERE lower(name) = lower({})", name))


@asynccontextmanager
async def unique_name_guard(name: str):
    """Turn the unique-index violation of a concurrent twin into a DUPLICATE error."""
    try:
        yield
    except Exception as exc:
        if "drumbeat_campaign_name_ci" in str(exc) or "UNIQUE constraint failed" in str(exc):
            raise DomainError.one(f"A campaign named {name!r} exists.", ErrorCode.DUPLICATE,
                                  ["name"]) from None
        raise


async def add_contacts(
    platform: Platform, member: Member, campaign_id: int, contact_ids: Sequence[int]
) -> RecipientsAdded:
    campaign = await _require_campaign(member, campaign_id)
    require_campaign_editor(member, campaign)
    problems = Problems()
    if CampaignState(campaign["state"]) not in PREPARING:
        problems.add(f"Recipients cannot be added to a {campaign['state']} campaign.",
                     ErrorCode.INVALID_STATE, "campaignId")
    if not contact_ids:
        problems.add("Give at least one contact.", ErrorCode.REQUIRED, "contactIds")
    if len(contact_ids) > MAX_RECIPIENTS_PER_CALL:
        problems.add(f"At most {MAX_RECIPIENTS_PER_CALL} contacts per call.",
                     ErrorCode.TOO_LONG, "contactIds")
    problems.raise_if_any()
    unique_ids = list(dict.fromkeys(contact_ids))
    found = {row["id"] for row in await Contact.select(Contact.id).where(Contact.id.is_in(unique_ids))}
    for index, contact_id in enumerate(contact_ids):
        if contact_id not in found:
            problems.add(f"No contact with id {contact_id}.", ErrorCode.NOT_FOUND,
                         "contactIds", index)
    problems.raise_if_any()
    stamp = now()
    async with platform.db.transaction():
        existing = await CampaignRecipient.count().where(
            CampaignRecipient.campaign == campaign_id, CampaignRecipient.contact.is_in(unique_ids)
        )
        await platform.db.executemany(
            "INSERT INTO drumbeat_campaign_recipient (campaign, kind, contact, added_at)"
            " VALUES ({}, 'contact', {}, {}) ON CONFLICT DO NOTHING",
            [(campaign_id, contact_id, stamp) for contact_id in unique_ids],
        )
        await Campaign.update({Campaign.updated_at: stamp}).where(Campaign.id == campaign_id)
    return RecipientsAdded(added=len(unique_ids) - existing, already_present=existing)


async def launch(platform: Platform, member: Member, campaign_id: int) -> dict:
    """Snapshot the audience into the ledger, mark the campaign RUNNING, enqueue its chunks."""
    campaign = await _require_campaign(member, campaign_id, "id")
    require_campaign_editor(member, campaign)
    if CampaignState(campaign["state"]) not in PREPARING:
        raise DomainError.one(f"A {campaign['state']} campaign cannot be launched.",
                              ErrorCode.INVALID_STATE, ["id"])
    recipients = await CampaignRecipient.count().where(CampaignRecipient.campaign == campaign_id)
    if recipients == 0:
        raise DomainError.one("Add at least one recipient before launching.",
                              ErrorCode.NO_RECIPIENTS, ["id"])
    steps = await WorkflowAction.select(WorkflowAction.id, WorkflowAction.action_type).where(
        WorkflowAction.campaign == campaign_id, WorkflowAction.state.is_start == True  # noqa: E712
    ).order_by(WorkflowAction.position)
    settings = platform.settings
    chunks: list[ledger.Chunk] = []
    stamp = now()
    async with platform.db.transaction():
        moved = await Campaign.update({
            Campaign.state: CampaignState.RUNNING.value, Campaign.launched_at: stamp,
            Campaign.updated_at: stamp,
        }).where(
            Campaign.id == campaign_id, Campaign.state.is_in([s.value for s in PREPARING])
        ).returning(Campaign.id)
        if not moved:  # launched concurrently by another request
            raise DomainError.one("The campaign is already running.", ErrorCode.INVALID_STATE, ["id"])
        for step in steps:
            action_type = platform.plugins.action_type(step["action_type"])
            await ledger.snapshot_contacts(platform.db, campaign_id, step["id"],
                                           action_type.needs_address,
                                           settings.redeliver_after_seconds)
            chunks += await ledger.pending_chunks(platform.db, campaign_id, step["id"],
                                                  settings.chunk_size)
    try:
        await platform.dispatch(chunks)  # after commit, never before
    except Exception:  # the broker is down: the rows are safe in the ledger
        log.exception("enqueueing campaign %s failed; the reconciler will re-send", campaign_id)
    if not chunks:
        await complete_finished(platform, campaign_id)
    await platform.publish(campaign_id, {"type": "launched"})
    return await get_campaign(campaign_id)


async def complete_finished(platform: Platform, campaign_id: int | None = None) -> list[int]:
    """Mark running campaigns COMPLETED once every delivery is final (never earlier).

    With ``campaign_id``, only that campaign; without, every running campaign (the
    reconciler's sweep, for a worker that died between its last record and this check).
    """
    stamp = now()
    only = "AND id = {}" if campaign_id is not None else ""
    rows = await platform.db.fetch(
        f"""
        UPDATE drumbeat_campaign SET state = 'COMPLETED', completed_at = {{}}, updated_at = {{}}
        WHERE state = 'RUNNING' {only} AND NOT EXISTS (
            SELECT 1 FROM drumbeat_delivery d
            WHERE d.campaign = drumbeat_campaign.id AND d.state IN ('pending', 'claimed'))
        RETURNING id
        """,
        stamp, stamp, *(() if campaign_id is None else (campaign_id,)),
    )
    for row in rows:
        await platform.publish(row["id"], {"type": "completed"})
    return [row["id"] for row in rows]
