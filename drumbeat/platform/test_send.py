"""Test send (``campaignTestSend``): render one step's action for one recipient and send it
to a given address — a preview that arrives in a real mailbox.

Generic across action types: the action's own ``execute`` runs for one :class:`Target`
flagged ``test`` (delivery 0, the recipient's data, the given address). Nothing is
recorded: no ledger row, and an outcome's ``persist`` never runs. The email action marks
the subject "[Test] " and leaves out tracking and List-Unsubscribe.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from drumbeat.platform import audit
from drumbeat.platform.actions import ActionContext, ActionType, CampaignInfo, Target
from drumbeat.platform.campaign_info import launch_problems, load_campaign_info
from drumbeat.platform.campaigns import get_campaign
from drumbeat.platform.errors import DomainError, ErrorCode, Problems
from drumbeat.platform.permissions import require_campaign_editor, require_member
from drumbeat.platform.personalisation import empty_data, target_data, target_sender
from drumbeat.platform.runtime import Platform
from drumbeat.platform.team import Member
from drumbeat.platform.validation import check_email

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendTestResult:
    sent: bool
    error: str | None = None
    message_id: str | None = None


def action_context(platform: Platform, campaign: CampaignInfo, step_id: int,
                   config: BaseModel) -> ActionContext:
    """The context a worker would give the step's action — without the suppression list
    and the database, which a test send or a dry run must not write to."""
    return ActionContext(campaign=campaign, step_id=step_id, config=config,
                         sender=campaign.sender or campaign.owner, settings=platform.settings,
                         templates=platform.templates)


async def preview_target(platform: Platform, campaign: CampaignInfo, step_id: int, kind: str,
                         party_id: int, address: str | None) -> Target:
    """A test target: ``kind``/``party_id``'s template data, addressed to ``address``."""
    data = (await target_data(platform.db, [(kind, party_id)])).get((kind, party_id))
    data = data or empty_data()
    return Target(delivery_id=0,
                  key=f"c{campaign.id}.s{step_id}.test-{kind}{party_id}-{secrets.token_hex(4)}",
                  kind=kind, id=party_id, address=address, attempt=1, data=data,
                  sender=target_sender(campaign, data), test=True)


async def send_test(platform: Platform, member: Member | None, campaign_id: int, to: str,
                    step_id: int | None = None, party: tuple[str, int] | None = None
                    ) -> SendTestResult:
    """Send step ``step_id`` (default: the first start step) as ``party`` (a (kind, id);
    default: the campaign's first recipient) would get it, to ``to``."""
    require_member(member)
    campaign = await get_campaign(campaign_id)
    if campaign is None:
        raise DomainError.one("No such campaign.", ErrorCode.NOT_FOUND, ["input", "campaignId"])
    require_campaign_editor(member, campaign)
    problems = Problems()
    to = (to or "").strip()
    check_email(problems, to, "input", "to")
    step = await _step(platform, problems, campaign_id, step_id)
    party = await _party(platform, problems, campaign_id, party)
    problems.raise_if_any()
    action_type, config = _configured(platform, step)
    info = await load_campaign_info(platform, campaign_id)
    for path, message in await launch_problems(platform, action_type, config, info):
        problems.add(message, ErrorCode.INVALID_CONFIG, "action", "config", *path)
    problems.raise_if_any()

    target = await preview_target(platform, info, step["id"], *party, address=to)
    ctx = action_context(platform, info, step["id"], config)
    try:
        outcomes = list(await action_type.execute(ctx, [target]))
    except Exception as exc:  # the action's failure is the answer, not a server error
        log.exception("test send of campaign %s failed", campaign_id)
        outcomes, error = [], f"{type(exc).__name__}: {exc}"
    else:
        error = "the action returned no outcome"
    outcome = next((o for o in outcomes if o.delivery_id == 0), None)
    result = (SendTestResult(True, message_id=outcome.message_id)
              if outcome is not None and outcome.status == "done"
              else SendTestResult(False, error=outcome.error if outcome else error))
    await audit.record(member, campaign_id, "campaign.test_send", [
        audit.Change("step", None, step["id"]), audit.Change("to", None, to),
        audit.Change("recipient", None, f"{party[0]} {party[1]}"),
        audit.Change("sent", None, result.sent)])
    return result


async def _step(platform: Platform, problems: Problems, campaign_id: int,
                step_id: int | None) -> dict | None:
    """The given step of the campaign, or its first start step."""
    if step_id is not None:
        step = await platform.db.fetchrow(
            "SELECT id, action_type, config FROM drumbeat_workflow_action"
            " WHERE id = {} AND campaign = {}", step_id, campaign_id)
        if step is None:
            problems.add("The campaign has no such step.", ErrorCode.NOT_FOUND,
                         "input", "stepId")
        return step
    step = await platform.db.fetchrow(
        "SELECT a.id, a.action_type, a.config FROM drumbeat_workflow_action a"
        " JOIN drumbeat_workflow_state s ON s.id = a.state"
        " WHERE a.campaign = {} AND s.is_start = {}"
        " ORDER BY s.position, a.position, a.id LIMIT 1", campaign_id, True)
    if step is None:
        problems.add("The campaign has no start step.", ErrorCode.NOT_FOUND, "input", "stepId")
    return step


async def _party(platform: Platform, problems: Problems, campaign_id: int,
                 party: tuple[str, int] | None) -> tuple[str, int] | None:
    """The given contact, company or lead (any, not only a recipient), or the campaign's
    first recipient."""
    if party is not None:
        kind, party_id = party
        if not await platform.db.fetchval(f"SELECT count(*) FROM drumbeat_{kind} WHERE id = {{}}",
                                          party_id):
            problems.add(f"No such {kind}.", ErrorCode.NOT_FOUND, "input", "recipient")
            return None
        return party
    row = await platform.db.fetchrow(
        "SELECT kind, contact, company, lead FROM drumbeat_campaign_recipient"
        " WHERE campaign = {} ORDER BY id LIMIT 1", campaign_id)
    if row is None:
        problems.add("The campaign has no recipients: choose one.", ErrorCode.NO_RECIPIENTS,
                     "input", "recipient")
        return None
    return row["kind"], row[row["kind"]]


def _configured(platform: Platform, step: dict) -> tuple[ActionType, Any]:
    """The step's action type and validated config (a problem with either is the user's)."""
    action_type = platform.plugins.action_types.get(step["action_type"])
    if action_type is None:
        raise DomainError.one(f"The action type {step['action_type']!r} is not installed.",
                              ErrorCode.UNKNOWN_ACTION_TYPE, ["input", "stepId"])
    raw = step["config"]
    try:
        return action_type, action_type.parse_config(json.loads(raw) if isinstance(raw, str)
                                                     else raw or {})
    except ValidationError as exc:
        raise DomainError.one(f"The action's config is no longer valid: "
                              f"{exc.errors()[0]['msg']}", ErrorCode.INVALID_CONFIG,
                              ["action", "config"]) from None
